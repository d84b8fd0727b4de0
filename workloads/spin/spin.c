/*
 * spin: fixed units of CPU work, for the overhead benchmark.
 *
 * Runs for SECONDS of wall time on one thread, then prints one line:
 *   units=<work units done> cpu_s=<user+system CPU seconds used>
 * Work per CPU-second (units / cpu_s) is what the benchmark compares with and
 * without sampling: it does not depend on how busy the rest of the machine is.
 *
 * Usage: spin SECONDS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

__attribute__((noinline)) static uint64_t unit(uint64_t x)
{
    for (int i = 0; i < 10000; ++i)
        x = x * 2862933555777941757ULL + 3037000493ULL;
    return x;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t x = 1, units = 0;
    for (;;) {
        x = unit(x);
        ++units;
        if ((units & 255) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
                break;
        }
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    printf("units=%llu cpu_s=%.6f sink=%llu\n", (unsigned long long)units, cpu,
           (unsigned long long)(x & 1));
    return 0;
}
