package io.powerproxy.budgets;

import io.powerproxy.budgets.CircuitBreaker.Permit;
import io.powerproxy.budgets.RedisSettings.FailMode;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Budgets shared by every replica through a remote store (Redis), with this replica's own budgets kept in step as
 * the fallback for when the store cannot be reached.
 *
 * <ul>
 *   <li>Every update goes to both stores, so the local view is warm when the shared store fails. A check reads the
 *       shared store and answers the larger of both counts, so a store that lost its data (a restart) cannot give a
 *       replica more than it knows it used itself. A reservation is first checked against this replica's own count,
 *       then made in the shared store and, when granted there, booked here too; one made here while the shared store
 *       was away is settled there, once it is back, by adding the tokens used.</li>
 *   <li>A few failed calls in a row (three by default; a successful call starts the count again) open a
 *       {@link CircuitBreaker}: for a while (1 s) no request calls the shared store, so none pays its timeout; then
 *       the next request starts one background probe ({@code PING}), and while that runs requests still skip the
 *       store. When the probe succeeds, requests use the shared store again. A request whose own call failed while
 *       the breaker stayed closed is answered from this replica's count, in either fail mode: one slow answer is
 *       not an outage.</li>
 *   <li>While the store is down, {@link FailMode#OPEN} answers checks from this replica's own count (so with N
 *       replicas a client may get up to N budgets), and {@link FailMode#CLOSED} throws
 *       {@link StoreUnavailableException}, which {@code LimitUsage} turns into 503. Updates never throw.</li>
 *   <li>An outage is logged once, as a WARN when it starts and an INFO when it ends, and {@link #problem()} reports it
 *       to the readiness probe meanwhile. One check right after start-up ({@link #checkInBackground()}) finds an
 *       unreachable Redis or a wrong password before the first request does. Tokens used during an outage are counted by the replica that served them
 *       only; they are not replayed to the store later (a timed-out update may have been applied already).</li>
 * </ul>
 */
public final class FailoverTokenBudgets implements TokenBudgets {

    private static final Logger LOG = LoggerFactory.getLogger(FailoverTokenBudgets.class);

    private record Outage(long sinceEpochMillis, String reason) {
    }

    private final TokenBudgets shared;
    private final LocalTokenBudgets local = new LocalTokenBudgets();
    private final String address;
    private final FailMode failMode;
    private final CircuitBreaker breaker;
    private final LongSupplier epochMillis;
    private final AtomicReference<Outage> outage = new AtomicReference<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    private FailoverTokenBudgets(TokenBudgets shared, String address, FailMode failMode, CircuitBreaker breaker,
            LongSupplier epochMillis) {
        this.shared = shared;
        this.address = address;
        this.failMode = failMode;
        this.breaker = breaker;
        this.epochMillis = epochMillis;
    }

    /**
     * Budgets shared through {@code shared}, named by {@code address} in logs and readiness (e.g. {@code Redis at
     * host:6380}), with {@code epochMillis} telling since when an outage lasts.
     */
    public static FailoverTokenBudgets create(TokenBudgets shared, String address, FailMode failMode, CircuitBreaker breaker,
            LongSupplier epochMillis) {
        return new FailoverTokenBudgets(shared, address, failMode, breaker, epochMillis);
    }

    /**
     * Checks the shared store in the background, so that a wrong password or no Redis shows at start-up: up to
     * {@code attempts} times while it fails, as many as open the breaker.
     */
    public FailoverTokenBudgets checkInBackground(int attempts) {
        Thread.ofVirtual().name("powerproxy-budgets-check").start(() -> {
            // Each failure counts towards opening the breaker, as a request's would.
            for (int attempt = 1; attempt <= attempts; attempt++) {
                if (probe(Permit.CALL) || breaker.isOpen()) {
                    return;
                }
            }
        });
        return this;
    }

    @Override
    public long used(String client, String deployment, long minute) {
        long own = local.used(client, deployment, minute);
        Permit permit = breaker.permit();
        if (permit == Permit.CALL) {
            try {
                long used = Math.max(shared.used(client, deployment, minute), own);
                breaker.succeeded(permit);
                return used;
            } catch (RuntimeException e) {
                failed(permit, e);
            }
        } else if (permit == Permit.TRIAL) {
            probeInBackground();
        }
        throwIfClosed();
        return own;
    }

    @Override
    public Reservation reserve(String client, String deployment, long minute, long tokens, long limit) {
        long own = local.used(client, deployment, minute);
        if (!Reservation.fits(own, tokens, limit)) {
            // What this replica holds itself leaves no room, whatever the shared store says (it may have lost its data).
            return Reservation.refused(client, deployment, minute, tokens, own);
        }
        Permit permit = breaker.permit();
        if (permit == Permit.CALL) {
            try {
                Reservation reservation = shared.reserve(client, deployment, minute, tokens, limit);
                breaker.succeeded(permit);
                if (reservation.granted()) {
                    local.add(client, deployment, minute, tokens);
                }
                return reservation;
            } catch (RuntimeException e) {
                failed(permit, e);
            }
        } else if (permit == Permit.TRIAL) {
            probeInBackground();
        }
        throwIfClosed();
        return local.reserve(client, deployment, minute, tokens, limit);
    }

    @Override
    public void settle(Reservation reservation, long usedTokens) {
        local.settle(reservation, usedTokens);
        Permit permit = breaker.permit();
        if (permit == Permit.CALL) {
            try {
                if (reservation.shared()) {
                    shared.settle(reservation, usedTokens);
                } else if (usedTokens > 0) {
                    // Held only here while the shared store was away: it gets what was used, as an update would.
                    shared.add(reservation.client(), reservation.deployment(), reservation.minute(), usedTokens);
                }
                breaker.succeeded(permit);
            } catch (RuntimeException e) {
                failed(permit, e);
            }
        } else if (permit == Permit.TRIAL) {
            probeInBackground();
        }
    }

    @Override
    public void add(String client, String deployment, long minute, long tokens) {
        local.add(client, deployment, minute, tokens);
        Permit permit = breaker.permit();
        if (permit == Permit.CALL) {
            try {
                shared.add(client, deployment, minute, tokens);
                breaker.succeeded(permit);
            } catch (RuntimeException e) {
                failed(permit, e);
            }
        } else if (permit == Permit.TRIAL) {
            probeInBackground();
        }
    }

    /** Whether the circuit breaker keeps requests from calling the shared store now. */
    public boolean breakerOpen() {
        return breaker.isOpen();
    }

    @Override
    public String problem() {
        Outage current = outage.get();
        if (current == null) {
            return null;
        }
        return address + " unavailable since " + Instant.ofEpochMilli(current.sinceEpochMillis()) + ": "
                + current.reason() + "; " + (failMode == FailMode.OPEN
                        ? "budgets are per replica until it answers again"
                        : "requests that need a budget are refused with 503 until it answers again");
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            shared.close();
        }
    }

    /** In fail mode closed, while the shared store is taken for unavailable: refuses to answer from the local count. */
    private void throwIfClosed() {
        if (failMode == FailMode.CLOSED && breaker.isOpen()) {
            String problem = problem();
            throw new StoreUnavailableException(problem != null ? problem : address + " unavailable", null);
        }
    }

    private void probeInBackground() {
        if (!closed.get()) {
            Thread.ofVirtual().name("powerproxy-budgets-probe").start(() -> probe(Permit.TRIAL));
        }
    }

    /** Calls the shared store once; true when it answered. */
    private boolean probe(Permit permit) {
        try {
            shared.check();
            // Read before the breaker closes: a new outage that starts right after must not be cleared below.
            Outage ended = outage.get();
            if (breaker.succeeded(permit)) {
                long seconds = ended == null ? 0 : (epochMillis.getAsLong() - ended.sinceEpochMillis()) / 1000;
                LOG.info("{} answers again after {} s; LimitUsage's budgets are shared by every replica again", address,
                        seconds);
                // After the log line, so that whoever sees readiness recover also finds the line.
                outage.compareAndSet(ended, null);
            }
            return true;
        } catch (RuntimeException e) {
            failed(permit, e);
            return false;
        }
    }

    private void failed(Permit permit, RuntimeException e) {
        String reason = e instanceof StoreUnavailableException ? e.getMessage() : e.toString();
        if (closed.get()) {
            return;
        }
        if (breaker.failed(permit)) {
            LOG.warn("{} unavailable: {}; LimitUsage {} until it answers again", address, reason,
                    failMode == FailMode.OPEN
                            ? "keeps budgets per replica"
                            : "refuses requests that need a budget with 503");
            outage.set(new Outage(epochMillis.getAsLong(), reason));
        } else if (breaker.isOpen()) {
            LOG.debug("{} still unavailable: {}", address, reason);
        } else {
            LOG.debug("{} call failed, not yet taken for an outage: {}", address, reason);
        }
    }
}
