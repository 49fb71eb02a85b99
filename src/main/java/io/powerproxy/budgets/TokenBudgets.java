package io.powerproxy.budgets;

/**
 * Where {@code LimitUsage} keeps the tokens each client used per deployment and minute: in this process
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
