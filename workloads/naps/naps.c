/* A program that blocks a known number of times: ground truth for scheduler tracepoints.
 *
 * usage: naps COUNT [wait]
 *
 * With "wait" it first reads one line from stdin, so a tracer can attach before the naps.
 * Then it sleeps COUNT times for a millisecond (NAP-LINE), each a switch out of the CPU in
 * sched:sched_switch with prev_state 1 (S, interruptible sleep), and prints "naps COUNT".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    struct timespec nap = {0, 1000000};
    for (unsigned long i = 0; i < count; i++)
        nanosleep(&nap, NULL); /* NAP-LINE */
    printf("naps %lu\n", count);
    return 0;
}
