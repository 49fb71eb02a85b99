package io.powerproxy.upstream;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * What the proxy knows of one deployment's rate limit at one endpoint (README "Headroom: spilling over before the
 * 429"): the tokens and requests it had left when it last answered, less what was sent to it since, until that
 * count expires; and a block another replica told of. Its state is one immutable observation swapped with
 * compare-and-set, plus two counters of what was sent; times are the balancer clock's milliseconds.
 *
 * <p>Each request sent takes a {@link Ticket} that marks the running totals of tokens and requests sent, its own
 * included. An answer's remaining counts already include every request the upstream admitted before it, so what is
 * left for the next request is the answer's count less what was sent after the answer's request: 50 requests in
 * flight cannot all pass a target whose last answer said it had 1,000 tokens left. An answer to a request sent before
 * the one that gave the count in use is older news and is ignored.
 */
final class Headroom {

    /** Nothing known: every request may go. */
    static final long UNKNOWN = Long.MAX_VALUE;

    /**
     * The counts of one answer.
     *
     * @param remainingTokens tokens left after the request, or -1 when the answer did not say
     * @param remainingRequests requests left after the request, or -1 when the answer did not say
     * @param sentAt when the request that got the answer was sent (or a shared count was received)
     * @param tokensMark the total of tokens sent, up to and including that request
     * @param requestsMark the total of requests sent, up to and including that request
     * @param expiresAt when the upstream's window has surely turned over, so that the count says nothing any more
     */
    record Observation(long remainingTokens, long remainingRequests, long sentAt, long tokensMark, long requestsMark,
            long expiresAt) {

        boolean isNewerThan(Observation other) {
            return other == null || sentAt > other.sentAt || sentAt == other.sentAt && requestsMark >= other.requestsMark;
        }
    }

    /**
     * One request sent to this target: the running totals when it went out, its own demand included once there was a
     * count to take it from.
     */
    record Ticket(Headroom headroom, long sentAt, long tokensMark, long requestsMark) {
        /** A request whose target keeps no headroom (switched off, or a request that names no deployment). */
        static final Ticket NONE = new Ticket(null, 0, 0, 0);
    }

    private final AtomicReference<Observation> observed = new AtomicReference<>();
    private final AtomicLong tokensSent = new AtomicLong();
    private final AtomicLong requestsSent = new AtomicLong();
    private final AtomicLong sharedBlockUntil = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong lastPostedAt = new AtomicLong(Long.MIN_VALUE);

    /** The count in force at {@code now}, or null when none was seen or it expired. */
    Observation observation(long now) {
        Observation current = observed.get();
        return current == null || now >= current.expiresAt() ? null : current;
    }

    /**
     * Takes a ticket for a request unless the target has too little left for it.
     *
     * @param demand the tokens the request is taken to need, asked for only when a count is in force
     * @param minTokens the tokens that must be left for any request to go; a request needs its demand if that is more
     * @param minRequests the requests that must be left for it to go
     * @param force take the ticket even when too little is left (every target is short; this one has the most)
     * @return the ticket, or null when the target is short and {@code force} is false
     */
    Ticket take(long now, LongSupplier demand, long minTokens, long minRequests, boolean force) {
        Observation current = observation(now);
        if (current == null) {
            return new Ticket(this, now, tokensSent.get(), requestsSent.get());
        }
        long tokens = Math.max(0, demand.getAsLong());
        // Reserve first, then look: of many requests racing for the last tokens, only those that fit keep theirs.
        long tokensMark = tokensSent.addAndGet(tokens);
        long requestsMark = requestsSent.incrementAndGet();
        if (!force && (spare(current.remainingTokens(), tokensMark - tokens, current.tokensMark())
                < Math.max(tokens, minTokens)
                || spare(current.remainingRequests(), requestsMark - 1, current.requestsMark()) < minRequests)) {
            tokensSent.addAndGet(-tokens);
            requestsSent.decrementAndGet();
            return null;
        }
        return new Ticket(this, now, tokensMark, requestsMark);
    }

    /** The tokens left now by the count in force, less what was sent since; {@link #UNKNOWN} when none is. */
    long spareTokens(long now) {
        Observation current = observation(now);
        return current == null ? UNKNOWN : spare(current.remainingTokens(), tokensSent.get(), current.tokensMark());
    }

    private static long spare(long remaining, long sentNow, long sentAtCount) {
        return remaining < 0 ? UNKNOWN : remaining - (sentNow - sentAtCount);
    }

    /**
     * Takes an answer's counts, unless a count from a request sent later is in force already.
     *
     * @return whether the count is now in force
     */
    boolean observe(long now, Ticket ticket, long remainingTokens, long remainingRequests, long expiresAt) {
        Observation next = new Observation(remainingTokens, remainingRequests, ticket.sentAt(), ticket.tokensMark(),
                ticket.requestsMark(), expiresAt);
        while (true) {
            Observation current = observed.get();
            if (current != null && now < current.expiresAt() && !next.isNewerThan(current)) {
                return false;
            }
            if (observed.compareAndSet(current, next)) {
                return true;
            }
        }
    }

    /** Takes counts another replica saw, as news of {@code now}: what this replica sends from now on comes off them. */
    void observeShared(long now, long remainingTokens, long remainingRequests, long expiresAt) {
        Observation next = new Observation(remainingTokens, remainingRequests, now, tokensSent.get(), requestsSent.get(),
                expiresAt);
        observed.updateAndGet(current -> current == null || now >= current.expiresAt() || next.isNewerThan(current)
                ? next : current);
    }

    /** Until when another replica said the target is blocked. */
    long sharedBlockUntil() {
        return sharedBlockUntil.get();
    }

    void blockShared(long until) {
        sharedBlockUntil.accumulateAndGet(until, Math::max);
    }

    /** Whether nothing is known and nothing blocks: the entry can be dropped. */
    boolean isIdle(long now) {
        return observation(now) == null && sharedBlockUntil.get() <= now;
    }

    /**
     * Whether a low count seen now should be told to the other replicas: at most one notice per target every
     * {@code minGapMillis}, so that a busy target does not flood the bulletin.
     */
    boolean mayPost(long now, long minGapMillis) {
        long last = lastPostedAt.get();
        return (last == Long.MIN_VALUE || now - last >= minGapMillis) && lastPostedAt.compareAndSet(last, now);
    }
}
