/*
 * hoard: holds COUNT heap blocks that it never frees, for the cost of
 * collecting a leak trace with many outstanding blocks.
 *
 * It waits SETTLE_MS (so a tracer launched with it has attached), allocates
 * COUNT blocks of BLOCK_BYTES at the line marked HOARD-ALLOC, prints
 * "held=<COUNT>" and then sleeps until it is killed or SECONDS pass.
 *
 * Usage: hoard COUNT [SECONDS]
 * Ground truth: COUNT blocks, COUNT * BLOCK_BYTES bytes, all at HOARD-ALLOC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BLOCK_BYTES 24
#define SETTLE_MS 300

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 100000;
    int seconds = argc > 2 ? atoi(argv[2]) : 3600;
    void **blocks = calloc((size_t)count, sizeof(void *));
    if (!blocks)
        return 1;
    usleep(SETTLE_MS * 1000);
    for (long i = 0; i < count; ++i)
        blocks[i] = malloc(BLOCK_BYTES); /* HOARD-ALLOC */
    printf("held=%ld\n", count);
    fflush(stdout);
    sleep((unsigned)seconds);
    return blocks[0] == NULL;
}
