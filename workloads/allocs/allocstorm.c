/*
 * allocstorm: an allocation-heavy program with one planted leak, for the
 * leak tracer's overhead benchmark.
 *
 * Each iteration allocates a short-lived buffer (freed at once: churn, at
 * the line marked CHURN-ALLOC) and does a little work with it; one
 * iteration in LEAK_EVERY also allocates LEAK_BYTES that are never freed
 * (the line marked LEAK-ALLOC).
 *
 * Usage: allocstorm SECONDS [WORK]
 *   WORK: arithmetic steps per iteration (default 200), which sets how
 *   allocation-bound the program is.
 * Prints: iterations=<N> cpu_s=<user+system CPU seconds> leaked=<bytes>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define LEAK_EVERY 1000
#define LEAK_BYTES 512

static void **leaked;
static size_t leaked_count, leaked_capacity;

__attribute__((noinline)) static uint64_t churn(uint64_t seed, int work)
{
    size_t size = 64 + (seed & 255);
    unsigned char *buffer = malloc(size); /* CHURN-ALLOC */
    memset(buffer, (int)seed, size);
    uint64_t x = seed + buffer[size / 2];
    for (int i = 0; i < work; ++i)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    free(buffer);
    return x;
}

__attribute__((noinline)) static void remember(void)
{
    void *block = malloc(LEAK_BYTES); /* LEAK-ALLOC */
    memset(block, 1, LEAK_BYTES);
    if (leaked_count == leaked_capacity) {
        leaked_capacity = leaked_capacity ? 2 * leaked_capacity : 1024;
        leaked = realloc(leaked, leaked_capacity * sizeof *leaked);
    }
    leaked[leaked_count++] = block; /* kept, never freed: the leak */
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    int work = argc > 2 ? atoi(argv[2]) : 200;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t x = 1, iterations = 0;
    for (;;) {
        x = churn(x, work);
        if (++iterations % LEAK_EVERY == 0)
            remember();
        if ((iterations & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (seconds > 0 && (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
                break;
        }
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    printf("iterations=%llu cpu_s=%.6f leaked=%zu sink=%llu\n", (unsigned long long)iterations, cpu,
           leaked_count * (size_t)LEAK_BYTES, (unsigned long long)(x & 1));
    return 0;
}
