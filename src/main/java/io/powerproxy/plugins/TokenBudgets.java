package io.powerproxy.plugins;

/**
 * Where {@link LimitUsage} keeps the tokens each client used per deployment and minute: in this process, or
 * shared by every replica.
 */
interface TokenBudgets extends AutoCloseable {

    /** Tokens the client used for the deployment in that minute (minutes since the epoch). */
    long used(String client, String deployment, long minute);

    /** Adds tokens the client used for the deployment in that minute. */
    void add(String client, String deployment, long minute, long tokens);

    /** Why the budgets cannot be trusted right now, for readiness; null when fine. */
    default String problem() {
        return null;
    }

    @Override
    default void close() {
    }
}
