package churn;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;

/**
 * A JVM that collects garbage and loads classes at a known pace: ground truth for watching
 * HotSpot's gc__begin/gc__end and class__loaded probes (lineprobe usdt jvm).
 *
 * usage: java -XX:+UseSerialGC -Xmx64m -cp workloads/build/churn churn.Churn [ROUNDS [wait]]
 *
 * With "wait" it first reads one line from stdin, so a tracer can attach before anything
 * happens. Each round defines the class churn.Loaded anew in a class loader of its own (one
 * class__loaded each), allocates 8 MiB of short-lived arrays, and every 10th round calls
 * System.gc() (a full collection: gc__begin's is_full set). At the end it prints its own
 * counts: rounds, the classes it defined, its System.gc() calls, and the collections the JVM's
 * own management beans counted meanwhile.
 */
public class Churn {
    /** Loads churn.Loaded from its class file, once per instance: a new class each time. */
    static final class OneClassLoader extends ClassLoader {
        OneClassLoader() {
            super(Churn.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.equals("churn.Loaded")) {
                return super.loadClass(name, resolve);
            }
            try (InputStream in = Churn.class.getResourceAsStream("/churn/Loaded.class")) {
                byte[] bytes = in.readAllBytes();
                return defineClass(name, bytes, 0, bytes.length); // CLASS-LOADED
            } catch (java.io.IOException e) {
                throw new ClassNotFoundException(name, e);
            }
        }
    }

    static long collections() {
        long total = 0;
        for (GarbageCollectorMXBean bean : ManagementFactory.getGarbageCollectorMXBeans()) {
            total += Math.max(0, bean.getCollectionCount());
        }
        return total;
    }

    public static void main(String[] args) throws Exception {
        long rounds = args.length > 0 ? Long.parseLong(args[0]) : Long.MAX_VALUE;
        if (args.length > 1 && args[1].equals("wait")) {
            new BufferedReader(new InputStreamReader(System.in)).readLine();
        }
        long before = collections();
        long defined = 0, requested = 0, checksum = 0;
        for (long round = 0; round < rounds; round++) {
            Class<?> loaded = new OneClassLoader().loadClass("churn.Loaded");
            defined++;
            checksum += loaded.getName().length();
            for (int i = 0; i < 128; i++) {
                byte[] garbage = new byte[64 * 1024];
                garbage[i] = (byte) round;
                checksum += garbage[i];
            }
            if (round % 10 == 9) {
                System.gc(); // FULL-GC
                requested++;
            }
            Thread.sleep(10);
        }
        System.out.printf("rounds %d classes %d full %d collections %d checksum %d%n",
            rounds, defined, requested, collections() - before, checksum);
    }
}
