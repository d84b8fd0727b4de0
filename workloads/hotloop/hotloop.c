/*
 * hotloop: a program whose hot line is known in advance.
 *
 * checksum() walks a buffer; one line does a 64-bit division per element and
 * dominates the CPU, the lines around it are cheap. The hot line carries the
 * marker comment HOT-LINE so tests find it without hard-coding a number.
 *
 * Sampling skid: a timer sample lands on the instruction AFTER the one that
 * was executing, so the cost of a long division shows on whatever follows
 * it. The hot line ends with an XOR that needs the quotient, so the
 * instruction after the division belongs to the same line at any -O level.
 *
 * Usage: hotloop [SECONDS]   (0 or nothing: run until killed)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 4096

static uint64_t buffer[N];

__attribute__((noinline)) uint64_t checksum(uint64_t seed)
{
    uint64_t acc = seed | 1;
    for (int i = 0; i < N; ++i) {
        uint64_t v = buffer[i] + (uint64_t)i;
        acc = ((acc * 6364136223846793005ULL + v) / ((v & 0xff) + 3)) ^ (acc >> 7); /* HOT-LINE */
        buffer[i] = acc;
    }
    return acc;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t seed = 1;
    for (unsigned long iteration = 0;; ++iteration) {
        seed = checksum(seed);
        if ((iteration & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
            if (seconds > 0 && elapsed >= seconds)
                break;
        }
    }
    printf("%llu\n", (unsigned long long)seed);
    return 0;
}
