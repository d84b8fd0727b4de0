/*
 * inlined: at -O2 the hot function mix() is inlined into its caller run().
 *
 * A profiler that only reads symbols blames run(); lineprobe reads DWARF's
 * DW_TAG_inlined_subroutine and puts the samples on mix()'s body, on the line
 * marked HOT-LINE, with mix as the function name. (The XOR after the division
 * keeps the division's sampling skid on the same line; see hotloop.c.)
 *
 * Usage: inlined [SECONDS]   (0 or nothing: run until killed)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t mix(uint64_t x, uint64_t k)
{
    x ^= x >> 31;
    return ((x * 0x9E3779B97F4A7C15ULL) / ((k & 0x3f) + 7)) ^ (x >> 3); /* HOT-LINE */
}

__attribute__((noinline)) static uint64_t run(uint64_t seed, int rounds)
{
    uint64_t acc = seed;
    for (int i = 0; i < rounds; ++i)
        acc = mix(acc + (uint64_t)i, acc);
    return acc;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t seed = 7;
    for (;;) {
        seed = run(seed, 1 << 20);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (seconds > 0 && elapsed >= seconds)
            break;
    }
    printf("%llu\n", (unsigned long long)seed);
    return 0;
}
