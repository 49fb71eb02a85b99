package io.powerproxy.plugins;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * A small circuit breaker in front of a remote store: after a failure, callers skip the store for a while; then one
 * caller, and only one, gets a trial, whose success closes the breaker and whose failure keeps it open for another
 * while. Its state is one immutable record swapped with compare-and-set, on an injected monotonic clock.
 */
final class CircuitBreaker {

    /** What a caller may do now. */
    enum Permit {
        /** The breaker is closed: call the store. */
        CALL,
        /** The breaker is open and this caller is the one to try the store again. */
        TRIAL,
        /** The breaker is open: do not call the store. */
        SKIP
    }

    private record State(boolean open, long retryAtMillis) {
    }

    private static final State CLOSED = new State(false, 0);

    private final long openMillis;
    private final LongSupplier monotonicMillis;
    private final AtomicReference<State> state = new AtomicReference<>(CLOSED);

    private CircuitBreaker(long openMillis, LongSupplier monotonicMillis) {
        this.openMillis = openMillis;
        this.monotonicMillis = monotonicMillis;
    }

    /** A closed breaker that, once open, waits {@code openFor} before each trial. */
    static CircuitBreaker create(Duration openFor, LongSupplier monotonicMillis) {
        if (openFor.isNegative() || openFor.isZero()) {
            throw new IllegalArgumentException("openFor must be positive: " + openFor);
        }
        return new CircuitBreaker(openFor.toMillis(), monotonicMillis);
    }

    Permit permit() {
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
        return state.compareAndSet(current, new State(true, now + openMillis)) ? Permit.TRIAL : Permit.SKIP;
    }

    /** Reports the success of a call made with the permit; true when this closed the breaker. */
    boolean succeeded(Permit permit) {
        // A call that started before the breaker opened proves little; only a trial closes it.
        return permit == Permit.TRIAL && state.getAndSet(CLOSED).open();
    }

    /** Reports the failure of a call made with the permit; true when this opened the breaker. */
    boolean failed(Permit permit) {
        long retryAt = monotonicMillis.getAsLong() + openMillis;
        State before = state.getAndUpdate(current -> current.open() && permit != Permit.TRIAL
                ? current
                : new State(true, retryAt));
        return !before.open();
    }

    boolean isOpen() {
        return state.get().open();
    }
}
