/* A program whose lines run a known number of times: ground truth for counting a line's hits.
 *
 * usage: linecount LIMIT
 *
 * It reads one line from stdin (a tracer attaches meanwhile), tests every n below LIMIT for
 * primality by trial division, prints "linecount PRIMES DIVISIONS", and reads one more line
 * before it exits (a tracer counts a live process, to the end of its window). The COUNT-PRIME
 * line runs once per prime below LIMIT and the DIVIDES line once per division tried: both
 * figures are the ones printed (tests/privileged/test_line_hits.py computes them too).
 */
#include <stdio.h>
#include <stdlib.h>

static unsigned long divisions;

__attribute__((noinline)) static int divides(int d, int n)
{
    divisions++;
    return n % d == 0; /* DIVIDES */
}

static int is_prime(int n)
{
    if (n < 2)
        return 0;
    for (int d = 2; d < n; d++) {
        if (divides(d, n))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int limit = argc > 1 ? atoi(argv[1]) : 10000;
    char line[16];
    if (!fgets(line, sizeof(line), stdin))
        return 1;
    unsigned long primes = 0;
    for (int n = 0; n < limit; n++) {
        if (is_prime(n))
            primes++; /* COUNT-PRIME */
    }
    printf("linecount %lu %lu\n", primes, divisions);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    return 0;
}
