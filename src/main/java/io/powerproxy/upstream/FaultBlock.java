package io.powerproxy.upstream;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Until when a target, or an endpoint's host, is blocked, and how many network faults (connect failures, timeouts)
 * it has had in a row: the first fault blocks it briefly, each repeat twice as long up to a maximum, and an answer
 * starts the count again. Its state is one immutable record swapped with compare-and-set; times are the balancer
 * clock's milliseconds.
 */
final class FaultBlock {

    /** How long the first network fault blocks: long enough to spare the requests of a burst its timeout. */
    static final Duration FIRST_FAULT = Duration.ofSeconds(1);
    /** Beyond this many faults in a row the block has long reached its maximum; keeps the shift in range. */
    private static final int MAX_COUNTED = 30;

    private record State(long until, int faultsInARow) {
    }

    /**
     * What one fault did.
     *
     * @param blockedFor how long the target stays blocked from now on
     * @param faultsInARow the faults in a row, this one included when it counted
     * @param counted false when the fault ended while a block was still running: it is part of the same incident
     *     (a request that was sent before the block began), so it neither lengthens the block nor counts
     */
    record Fault(Duration blockedFor, int faultsInARow, boolean counted) {
    }

    private final AtomicReference<State> state = new AtomicReference<>(new State(Long.MIN_VALUE, 0));

    /** Until when it is blocked (balancer clock, ms). */
    long until() {
        return state.get().until();
    }

    /** Blocks until {@code until}, unless blocked longer already; the count of network faults stays as it is. */
    void blockUntil(long until) {
        state.updateAndGet(current -> until > current.until() ? new State(until, current.faultsInARow()) : current);
    }

    /**
     * Counts a network fault at {@code now} and blocks for {@link #FIRST_FAULT}, doubled for each fault in a row
     * before it, at most {@code max}.
     */
    Fault fault(long now, Duration max) {
        while (true) {
            State current = state.get();
            if (current.until() > now) {
                return new Fault(Duration.ofMillis(current.until() - now), current.faultsInARow(), false);
            }
            int faults = Math.min(current.faultsInARow() + 1, MAX_COUNTED);
            long blockMillis = Math.min(max.toMillis(), FIRST_FAULT.toMillis() << (faults - 1));
            if (state.compareAndSet(current, new State(now + blockMillis, faults))) {
                return new Fault(Duration.ofMillis(blockMillis), faults, true);
            }
        }
    }

    /** An answer arrived: the next network fault counts as the first again. A running block stays. */
    void answered() {
        // Read first: answers are the common case, and most find nothing to reset, so they write nothing.
        if (state.get().faultsInARow() != 0) {
            state.updateAndGet(current -> new State(current.until(), 0));
        }
    }
}
