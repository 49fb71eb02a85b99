package io.powerproxy.budgets;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * A small circuit breaker in front of a remote store: after some failed calls in a row, callers skip the store for a
 * while; then one caller, and only one, gets a trial, whose success closes the breaker and whose failure keeps it open
 * for another while. A successful call starts the count of failures again, so one slow answer is not an outage. Its
 * state is one immutable record swapped with compare-and-set, on an injected monotonic clock.
 */
public final class CircuitBreaker {

    /** What a caller may do now. */
    public enum Permit {
        /** The breaker is closed: call the store. */
        CALL,
        /** The breaker is open and this caller is the one to try the store again. */
        TRIAL,
        /** The breaker is open: do not call the store. */
        SKIP
    }

    private record State(boolean open, long retryAtMillis, int failuresInARow) {
    }

    private static final State CLOSED = new State(false, 0, 0);

    private final long openMillis;
    private final int failuresToOpen;
    private final LongSupplier monotonicMillis;
    private final AtomicReference<State> state = new AtomicReference<>(CLOSED);

    private CircuitBreaker(long openMillis, int failuresToOpen, LongSupplier monotonicMillis) {
        this.openMillis = openMillis;
        this.failuresToOpen = failuresToOpen;
        this.monotonicMillis = monotonicMillis;
    }

    /** A closed breaker that opens at the first failure and, once open, waits {@code openFor} before each trial. */
    public static CircuitBreaker create(Duration openFor, LongSupplier monotonicMillis) {
        return create(openFor, 1, monotonicMillis);
    }

    /**
     * A closed breaker that opens after {@code failuresToOpen} failed calls with no success between them and, once
     * open, waits {@code openFor} before each trial.
     */
    public static CircuitBreaker create(Duration openFor, int failuresToOpen, LongSupplier monotonicMillis) {
        if (openFor.isNegative() || openFor.isZero()) {
            throw new IllegalArgumentException("openFor must be positive: " + openFor);
        }
        if (failuresToOpen < 1) {
            throw new IllegalArgumentException("failuresToOpen must be at least 1: " + failuresToOpen);
        }
        return new CircuitBreaker(openFor.toMillis(), failuresToOpen, monotonicMillis);
    }

    public Permit permit() {
        State current = state.get();
        if (!current.open()) {
            return Permit.CALL;
        }
        long now = monotonicMillis.getAsLong();
        if (now - current.retryAtMillis() < 0) {
            return Permit.SKIP;
        }
        // The next trial is due a full period later, so a trial that never reports back cannot keep the store
        // skipped forever.
        return state.compareAndSet(current, new State(true, now + openMillis, current.failuresInARow()))
                ? Permit.TRIAL : Permit.SKIP;
    }

    /**
     * Reports the success of a call made with the permit; true when this closed the breaker. A call's success starts
     * the count of failures again.
     */
    public boolean succeeded(Permit permit) {
        if (permit == Permit.TRIAL) {
            return state.getAndSet(CLOSED).open();
        }
        // A call that started before the breaker opened proves little; only a trial closes it. Most calls find no
        // failure to forget, and then write nothing.
        State current = state.get();
        if (!current.open() && current.failuresInARow() > 0) {
            state.compareAndSet(current, CLOSED);
        }
        return false;
    }

    /** Reports the failure of a call made with the permit; true when this opened the breaker. */
    public boolean failed(Permit permit) {
        long retryAt = monotonicMillis.getAsLong() + openMillis;
        State before = state.getAndUpdate(current -> {
            if (permit == Permit.TRIAL) {
                return new State(true, retryAt, current.failuresInARow());
            }
            if (current.open()) {
                return current;
            }
            int failures = current.failuresInARow() + 1;
            return new State(failures >= failuresToOpen, retryAt, failures);
        });
        return !before.open() && (permit == Permit.TRIAL || before.failuresInARow() + 1 >= failuresToOpen);
    }

    public boolean isOpen() {
        return state.get().open();
    }
}
