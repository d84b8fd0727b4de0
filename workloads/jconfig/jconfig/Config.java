package jconfig;

import java.io.FileInputStream;
import java.io.IOException;

/**
 * The workshop's "server" lab (a configuration file that never appears, polled in a loop) in
 * Java: each attempt opens a file that does not exist, which fails with ENOENT in openat. Ground
 * truth for a Java line as the site of a failing system call: the open is on the line marked
 * CONFIG-OPEN, and the program prints how many attempts it made.
 *
 * usage: java -cp workloads/build/jconfig jconfig.Config [ATTEMPTS [PATH]]
 */
public class Config {
    static boolean load(String path) {
        try (FileInputStream in = new FileInputStream(path)) { // CONFIG-OPEN
            return in.read() >= 0;
        } catch (IOException e) {
            return false;
        }
    }

    public static void main(String[] args) throws InterruptedException {
        long attempts = args.length > 0 ? Long.parseLong(args[0]) : Long.MAX_VALUE;
        String path = args.length > 1 ? args[1] : "/etc/lineprobe-jconfig-missing.conf";
        long tried = 0;
        while (tried < attempts && !load(path)) {
            tried++;
            Thread.sleep(0, 100_000);
        }
        System.out.println("attempts: " + tried);
    }
}
