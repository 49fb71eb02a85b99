package io.powerproxy.budgets;

/**
 * Where {@code LimitUsage} keeps the tokens each client used, or holds for requests in flight, per deployment and
 * minute: in this process
 * ({@link LocalTokenBudgets}), in Redis ({@link RedisTokenBudgets}), or in Redis with this process as the fallback
 * ({@link FailoverTokenBudgets}).
 *
 * <p>Implementations are called concurrently by many requests. A store that lives elsewhere throws
 * {@link StoreUnavailableException} when it cannot answer; the local store never throws.
 */
public interface TokenBudgets extends AutoCloseable {

    /**
     * Tokens the client used for the deployment in that minute (minutes since the epoch).
     *
     * @throws StoreUnavailableException when the store cannot answer and no fallback may be used
     */
    long used(String client, String deployment, long minute);

    /**
     * Adds tokens the client used for the deployment in that minute.
     *
     * @throws StoreUnavailableException when the store cannot take them (a fallback store never throws here)
     */
    void add(String client, String deployment, long minute, long tokens);

    /**
     * Holds tokens in the client's budget for the deployment in that minute if they fit ({@link Reservation#fits}):
     * the check and the booking are one atomic step, so that concurrent requests cannot all pass a budget that holds
     * room for one of them.
     *
     * @param limit the budget of the minute, in tokens
     * @throws StoreUnavailableException when the store cannot answer and no fallback may be used
     */
    Reservation reserve(String client, String deployment, long minute, long tokens, long limit);

    /**
     * Settles a granted reservation at the tokens the request used: the difference goes to the reservation's minute
     * (a refund when it used less), which never goes below 0. Called once per granted reservation; a reservation that
     * is never settled holds its tokens until its minute is over.
     *
     * @throws StoreUnavailableException when the store cannot take it (a fallback store never throws here)
     */
    void settle(Reservation reservation, long usedTokens);

    /**
     * Checks that the store answers, for probes outside the request path.
     *
     * @throws StoreUnavailableException when it does not
     */
    default void check() {
    }

    /** Why the budgets cannot be trusted right now, for readiness; null when fine. Answers from state, no I/O. */
    default String problem() {
        return null;
    }

    @Override
    default void close() {
    }

    /**
     * The store cannot answer right now. The message says why, for operators (e.g. {@code connection refused}), and
     * never holds a secret; it carries no stack trace, because an outage is expected, not a bug.
     */
    final class StoreUnavailableException extends RuntimeException {

        StoreUnavailableException(String message, Throwable cause) {
            super(message, cause, false, false);
        }
    }
}
