/*
 * primes: counts primes with trial division, in parallel with OpenMP.
 * Modeled on the linux-tracing-workshop's CPU sampling lab (lab 2).
 * Usage: primes [LIMIT] [ROUNDS]
 *   LIMIT  upper bound of the search (default 100000)
 *   ROUNDS how many times to repeat the search; 0 repeats until killed (default 1)
 * Expected finding (see README.md here): almost all CPU samples fall in
 * is_divisible(), on the line `return n % d == 0;`.
 */
#include <stdio.h>
#include <stdlib.h>
#ifndef DIVISION_TYPE /* primes-wide: long, a 64-bit division on the hot line (no line moves) */
#define DIVISION_TYPE int
#endif
int is_divisible(DIVISION_TYPE n, DIVISION_TYPE d)
{
    return n % d == 0;
}

int is_prime(int n)
{
    if (n <= 1)
        return 0;
    for (int d = 2; d < n; ++d) {
        if (is_divisible(n, d))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int limit = argc > 1 ? atoi(argv[1]) : 100000;
    long rounds = argc > 2 ? atol(argv[2]) : 1;

    for (long round = 0; rounds == 0 || round < rounds; ++round) {
        int count = 0;
#pragma omp parallel for reduction(+ : count) schedule(dynamic, 64)
        for (int n = 2; n < limit; ++n) {
            if (is_prime(n))
                ++count;
        }
        printf("round %ld: %d primes below %d\n", round, count, limit);
        fflush(stdout);
    }
    return 0;
}
