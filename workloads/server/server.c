/*
 * server: "starts" but never initialises (workshop lab 3).
 *
 * It polls for its configuration file, which does not exist, with a short
 * sleep between tries: pidstat shows it busy in the kernel, syscount shows
 * a storm of openat and clock_nanosleep calls, and every open fails.
 *
 * Usage: server [CONFIG_PATH] [SLEEP_US] [ATTEMPTS]
 *   CONFIG_PATH defaults to /etc/tracing-server-example.conf (missing);
 *   pass an existing file for the no-bug control: it reads it and idles.
 *   ATTEMPTS > 0 gives up (exit status 1) after that many tries, so that two
 *   tracers can be compared on exactly the same calls.
 *
 * Expected finding: openat("/etc/tracing-server-example.conf") fails with
 * ENOENT at the fopen line marked CONFIG-OPEN, thousands of times a second;
 * the sleeps (clock_nanosleep) request SLEEP_US microseconds (default 100).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int load_config(const char *path)
{
    FILE *config = fopen(path, "r"); /* CONFIG-OPEN */
    if (config == NULL)
        return 0;
    char line[256];
    while (fgets(line, sizeof line, config) != NULL)
        ;
    fclose(config);
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/etc/tracing-server-example.conf";
    useconds_t pause = argc > 2 ? (useconds_t)atoi(argv[2]) : 100;
    long attempts = argc > 3 ? atol(argv[3]) : 0;
    for (long tried = 1; !load_config(path); ++tried) {
        if (attempts > 0 && tried >= attempts)
            return 1;
        usleep(pause); /* RETRY-SLEEP */
    }
    printf("configuration loaded from %s; serving\n", path);
    fflush(stdout);
    for (;;)
        sleep(1);
}
