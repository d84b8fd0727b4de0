/*
 * phases: one thread that alternates between two hot functions, a second in each.
 *
 * For the time slices of a CPU profile: its first second is spent in churn_alpha(),
 * the next in churn_beta(), and so on, so a timeline with buckets of a second or less
 * shows the two in turn, and a time range picks one of them.
 *
 * Usage: phases [PHASES] [PHASE_SECONDS]   (defaults 6 and 1)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double elapsed_s(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
}

__attribute__((noinline)) uint64_t churn_alpha(uint64_t x)
{
    for (int i = 0; i < 20000; ++i)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL; /* ALPHA-LINE */
    return x;
}

__attribute__((noinline)) uint64_t churn_beta(uint64_t x)
{
    for (int i = 0; i < 20000; ++i)
        x = (x ^ (x >> 13)) * 0x9E3779B97F4A7C15ULL; /* BETA-LINE */
    return x;
}

int main(int argc, char **argv)
{
    int phases = argc > 1 ? atoi(argv[1]) : 6;
    double phase_s = argc > 2 ? atof(argv[2]) : 1.0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t x = 1;
    for (int phase = 0; phase < phases; ++phase) {
        while (elapsed_s(&start) < (phase + 1) * phase_s)
            x = phase % 2 == 0 ? churn_alpha(x) : churn_beta(x);
    }
    printf("%llu\n", (unsigned long long)x);
    return 0;
}
