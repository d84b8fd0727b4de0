package slowy;

/**
 * The workshop's "slowy" program: counts primes by trial division, forever (or N rounds).
 *
 * isDivisible is called about a million times a second: with -XX:+ExtendedDTraceProbes
 * HotSpot fires hotspot:method__entry for every call, and with -XX:-Inline C2 keeps it a
 * method of its own, so profiles and probe counts name it instead of main.
 *
 * usage: java -XX:+ExtendedDTraceProbes -XX:-Inline -cp workloads/build/slowy slowy.App [ROUNDS]
 */
public class App {
    static boolean isDivisible(int n, int d) {
        return n % d == 0; // IS-DIVISIBLE
    }

    static boolean isPrime(int n) {
        if (n < 2) {
            return false;
        }
        for (int d = 2; d * d <= n; d++) {
            if (isDivisible(n, d)) { // CALLS-IS-DIVISIBLE
                return false;
            }
        }
        return true;
    }

    public static void main(String[] args) throws InterruptedException {
        long rounds = args.length > 0 ? Long.parseLong(args[0]) : Long.MAX_VALUE;
        for (long round = 0; round < rounds; round++) {
            int count = 0;
            for (int n = 2; n < 20000; n++) {
                if (isPrime(n)) { // CALLS-IS-PRIME
                    count++;
                }
            }
            if (round % 100 == 0) {
                System.out.println("round " + round + ": " + count + " primes");
            }
        }
    }
}
