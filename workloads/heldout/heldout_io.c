/*
 * heldout_io: a failing open and a slow fsync at known lines, for checking
 * attribution in -O2 code without frame pointers (glibc has none either).
 *
 * Usage: heldout_io DIRECTORY
 *
 * Expected finding: openat of DIRECTORY/missing/settings.ini fails with
 * ENOENT at the line marked FAIL-OPEN; fsync at the line marked SLOW-FSYNC
 * is the slowest file I/O site.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char directory[4096];

__attribute__((noinline)) static int read_settings(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/missing/settings.ini", directory);
    int fd = open(path, O_RDONLY); /* FAIL-OPEN */
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

__attribute__((noinline)) static void save_state(int fd, const char *buffer, size_t size)
{
    if (pwrite(fd, buffer, size, 0) < 0)
        perror("pwrite");
    if (fsync(fd) < 0) /* SLOW-FSYNC */
        perror("fsync");
}

int main(int argc, char **argv)
{
    snprintf(directory, sizeof directory, "%s", argc > 1 ? argv[1] : ".");
    char path[4200];
    snprintf(path, sizeof path, "%s/state.data", directory);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    static char buffer[256 << 10];
    memset(buffer, 's', sizeof buffer);
    for (unsigned long i = 0;; ++i) {
        read_settings();
        if (i % 50 == 0)
            save_state(fd, buffer, sizeof buffer);
        usleep(1000);
    }
}
