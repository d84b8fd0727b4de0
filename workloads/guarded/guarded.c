/* A USDT probe guarded by a semaphore (sys/sdt.h with _SDT_HAS_SEMAPHORES, as dtrace -G
 * builds them: Python, Node and PostgreSQL built with DTrace support guard theirs so): the
 * program prepares the probe's arguments only while a tracer has set the semaphore.
 *
 * usage: guarded ROUNDS [wait]
 *
 * With "wait" it first reads one line from stdin, so a tracer can attach before any round.
 * Each round fires lineprobe_demo:guarded(round) at GUARDED-PROBE if the semaphore is set,
 * and at the end prints the rounds, the probe's hits (rounds that found the semaphore set)
 * and the semaphore's value: the ground truth of tracing a guarded probe.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

/* The semaphore sys/sdt.h names in the probe's note: the kernel's or a tracer's count of
 * who is attached. */
__extension__ unsigned short lineprobe_demo_guarded_semaphore __attribute__((unused))
    __attribute__((section(".probes")));

int main(int argc, char **argv)
{
    unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    unsigned long fired = 0;
    for (unsigned long round = 0; round < rounds; round++) {
        if (lineprobe_demo_guarded_semaphore) {
            DTRACE_PROBE1(lineprobe_demo, guarded, round); /* GUARDED-PROBE */
            fired++;
        }
    }
    printf("rounds %lu fired %lu semaphore %u\n", rounds, fired, (unsigned)lineprobe_demo_guarded_semaphore);
    return 0;
}
