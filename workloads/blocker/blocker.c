/* A program that waits in two places, for times it measures itself: ground truth for off-CPU
 * time per line.
 *
 * usage: blocker ROUNDS FILE [wait]
 *
 * With "wait" it first reads one line from stdin, so a tracer can attach first. Each round
 * naps 5 ms in nap() (NAP-LINE: nanosleep) and writes 64 KiB to FILE and fsyncs it in
 * flush() (FSYNC-LINE: fsync, waiting for the disk). At the end it prints the rounds and the
 * nanoseconds each line waited: the time in the call (CLOCK_MONOTONIC) less the thread's own
 * CPU time in it (CLOCK_THREAD_CPUTIME_ID), which is the time it was off the CPU.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long clock_ns(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

/* Off the CPU since (wall, cpu) were read: the wall time passed less the CPU time used. */
static unsigned long long waited_since(unsigned long long wall, unsigned long long cpu)
{
    unsigned long long wall_passed = clock_ns(CLOCK_MONOTONIC) - wall;
    unsigned long long cpu_used = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;
    return wall_passed > cpu_used ? wall_passed - cpu_used : 0;
}

static unsigned long long napped, flushed;

static void __attribute__((noinline)) nap(void)
{
    struct timespec pause = {0, 5000000};
    unsigned long long cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID), wall = clock_ns(CLOCK_MONOTONIC);
    nanosleep(&pause, NULL); /* NAP-LINE */
    napped += waited_since(wall, cpu);
}

static void __attribute__((noinline)) flush(int fd, const char *block, size_t size)
{
    if (write(fd, block, size) != (ssize_t)size)
        exit(2);
    unsigned long long cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID), wall = clock_ns(CLOCK_MONOTONIC);
    fsync(fd); /* FSYNC-LINE */
    flushed += waited_since(wall, cpu);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: blocker ROUNDS FILE [wait]\n");
        return 1;
    }
    unsigned long rounds = strtoul(argv[1], NULL, 10);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 1;
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    static char block[65536];
    memset(block, 'x', sizeof(block));
    for (unsigned long round = 0; round < rounds; round++) {
        nap();
        flush(fd, block, sizeof(block));
    }
    printf("rounds %lu nap_waited_ns %llu fsync_waited_ns %llu\n", rounds, napped, flushed);
    close(fd);
    return 0;
}
