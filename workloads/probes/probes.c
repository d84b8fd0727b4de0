/* A program with its own USDT probes (sys/sdt.h, Debian's systemtap-sdt-dev), at known lines.
 *
 * usage: probes ROUNDS [WAIT]
 *
 * With WAIT set to "wait", it first reads one line from stdin, so a tracer can
 * attach before any probe fires. Then, for each of ROUNDS rounds, it fires
 * lineprobe_demo:request(round, size) once, lineprobe_demo:slow(round) every
 * 10th round, and lineprobe_demo:tick() once per 1000 requests from a helper,
 * and at the end prints its own counts: the ground truth for probe counters.
 * A request's size cycles through 64, 128, 256 and 512 bytes, a quarter each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

static unsigned long ticks;

static void __attribute__((noinline)) tick(unsigned long round)
{
    if (round % 1000 == 0) {
        DTRACE_PROBE(lineprobe_demo, tick); /* TICK-PROBE */
        ticks++;
    }
}

int main(int argc, char **argv)
{
    unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    unsigned long requests = 0, slow = 0;
    volatile unsigned long checksum = 0;
    for (unsigned long round = 0; round < rounds; round++) {
        int size = 64 << (round % 4);
        DTRACE_PROBE2(lineprobe_demo, request, round, size); /* REQUEST-PROBE */
        requests++;
        checksum += (unsigned long)size * round;
        if (round % 10 == 0) {
            DTRACE_PROBE1(lineprobe_demo, slow, round); /* SLOW-PROBE */
            slow++;
        }
        tick(round);
    }
    printf("requests %lu slow %lu ticks %lu checksum %lu\n", requests, slow, ticks, (unsigned long)checksum);
    return 0;
}
