/*
 * syscall_loop: a steady stream of cheap system calls, for the syscall
 * tracing overhead benchmark.
 *
 * Issues RATE getppid() calls per second (paced in batches of 1000) for
 * SECONDS, then prints: calls=<N> cpu_s=<user+system CPU seconds>.
 * CPU seconds per call, with and without tracing, is the overhead.
 *
 * Usage: syscall_loop SECONDS [RATE]   (RATE default 100000; 0: as fast as possible)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    double rate = argc > 2 ? atof(argv[2]) : 100000;
    double start = now();
    unsigned long calls = 0;
    while (now() - start < seconds) {
        for (int i = 0; i < 1000; ++i)
            syscall(SYS_getppid);
        calls += 1000;
        if (rate > 0) {
            double due = start + calls / rate;
            double wait = due - now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    printf("calls=%lu cpu_s=%.6f\n", calls, cpu);
    return 0;
}
