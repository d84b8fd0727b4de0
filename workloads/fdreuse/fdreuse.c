/*
 * fdreuse: one descriptor number, three files in turn, for checking that I/O
 * is named by the file the descriptor held at the time of the call.
 *
 * Usage: fdreuse INPUT OUTPUT
 *   1. opens INPUT (fd 3 in a fresh process) and reads it in 4 KiB reads
 *      (READ-INPUT), then closes it;
 *   2. opens OUTPUT, which gets fd 3 again, writes 16 x 4 KiB (WRITE-OUTPUT)
 *      and closes it;
 *   3. makes a pipe (fds 3 and 4: a call tracers may not follow), writes
 *      4 x 512 bytes into it (WRITE-PIPE) and reads them back.
 * Ground truth: every read of step 1 is on INPUT, every write of step 2 on
 * OUTPUT, step 3's writes on the pipe; a dynamically linked program's loader
 * also reads its C library on fd 3 before main.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fdreuse INPUT OUTPUT\n");
        return 2;
    }
    char buffer[4096];
    usleep(200000); /* a tracer launched with it has attached */
    int in = open(argv[1], O_RDONLY);
    if (in < 0)
        return 1;
    while (read(in, buffer, sizeof buffer) > 0) /* READ-INPUT */
        ;
    close(in);
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        return 1;
    memset(buffer, 'x', sizeof buffer);
    for (int i = 0; i < 16; ++i)
        if (write(out, buffer, sizeof buffer) < 0) /* WRITE-OUTPUT */
            return 1;
    close(out);
    int pipe_fds[2];
    if (pipe2(pipe_fds, 0) != 0)
        return 1;
    for (int i = 0; i < 4; ++i) {
        if (write(pipe_fds[1], buffer, 512) < 0) /* WRITE-PIPE */
            return 1;
        if (read(pipe_fds[0], buffer, 512) < 0)
            return 1;
    }
    printf("in=%d out=%d pipe=%d,%d\n", in, out, pipe_fds[0], pipe_fds[1]);
    return 0;
}
