package churn;

/** The class Churn defines anew each round, in a class loader of its own. */
public class Loaded {
    public static int value() {
        return 42;
    }
}
