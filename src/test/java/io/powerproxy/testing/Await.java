package io.powerproxy.testing;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Waits for a condition rather than for time: checks it every few milliseconds and fails, naming what was awaited,
 * when it does not hold within a deadline generous enough for a loaded machine.
 */
public final class Await {

    /** The deadline of {@link #until(String, Condition)}: long, because only a broken test ever reaches it. */
    public static final Duration DEFAULT = Duration.ofSeconds(30);

    private Await() {
    }

    /** A condition that may throw while it is checked; an exception fails the wait at once. */
    @FunctionalInterface
    public interface Condition {
        boolean holds() throws Exception;
    }

    /** Waits until the condition holds, at most {@link #DEFAULT}. */
    public static void until(String what, Condition condition) {
        until(what, DEFAULT, condition);
    }

    /** Waits until the condition holds, at most {@code deadline}; fails with "not within ...: what" after that. */
    public static void until(String what, Duration deadline, Condition condition) {
        until(what, deadline, () -> null, condition);
    }

    /**
     * Waits until the condition holds, at most {@link #DEFAULT}; the failure also says what {@code seen} gives then
     * (the value last seen, the diagnostics a reader needs).
     */
    public static void until(String what, Supplier<?> seen, Condition condition) {
        until(what, DEFAULT, seen, condition);
    }

    /** Waits until the condition holds, at most {@code deadline}; the failure also says what {@code seen} gives then. */
    public static void until(String what, Duration deadline, Supplier<?> seen, Condition condition) {
        long end = System.nanoTime() + deadline.toNanos();
        try {
            while (!condition.holds()) {
                if (System.nanoTime() > end) {
                    Object last = seen.get();
                    throw new AssertionError("not within " + deadline.toSeconds() + " s: " + what
                            + (last == null ? "" : "; seen: " + last));
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
                if (Thread.interrupted()) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted while waiting until " + what);
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new AssertionError("checking whether " + what + " failed: " + e, e);
        }
    }
}
