/*
 * logger: occasional latency spikes (workshop lab 4).
 *
 * One thread appends 1 KiB records to log.data with synchronous writes
 * (O_SYNC) every 10 ms; another appends 1 MiB to flush.data, also
 * synchronously, every 500 ms. The big flushes are the slow writes and
 * they cause the block I/O latency outliers.
 *
 * On a fast (virtual) disk a 1 MiB synchronous write takes little more than
 * a millisecond, and an append that waits behind a flush takes nearly as
 * long: flushes extend the file (new blocks, a journal commit) and come
 * rarely enough that such waits stay under 1% of the appends, so the
 * appends' p99 reflects their own latency, not the flushes'.
 *
 * Usage: logger [DIRECTORY] [--no-flush]
 *   --no-flush is the no-bug control: only the small appends.
 *
 * Expected finding: the write at the line marked FLUSH-WRITE is the slowest
 * site (p99 well above the appends' at APPEND-WRITE), 1 MiB per call; block
 * I/O latency of the process shows as a histogram.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char directory[4096] = ".";

static int open_in(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_SYNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

static void *append_records(void *unused)
{
    (void)unused;
    int fd = open_in("log.data");
    char record[1024];
    memset(record, 'l', sizeof record);
    for (;;) {
        if (write(fd, record, sizeof record) < 0) /* APPEND-WRITE */
            perror("log.data");
        usleep(10000);
    }
    return NULL;
}

static void *flush_buffers(void *unused)
{
    (void)unused;
    int fd = open_in("flush.data");
    static char buffer[1 << 20];
    memset(buffer, 'f', sizeof buffer);
    for (off_t end = 0;; end += sizeof buffer) {
        if (end >= (off_t)64 << 20) { /* keep the file bounded: start over at 64 MiB */
            if (ftruncate(fd, 0) < 0)
                perror("flush.data");
            end = 0;
        }
        if (pwrite(fd, buffer, sizeof buffer, end) < 0) /* FLUSH-WRITE */
            perror("flush.data");
        usleep(500000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int flush = 1;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--no-flush") == 0)
            flush = 0;
        else
            snprintf(directory, sizeof directory, "%s", argv[i]);
    }
    pthread_t appender, flusher;
    pthread_create(&appender, NULL, append_records, NULL);
    if (flush)
        pthread_create(&flusher, NULL, flush_buffers, NULL);
    pthread_join(appender, NULL);
    return 0;
}
