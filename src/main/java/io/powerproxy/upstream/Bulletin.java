package io.powerproxy.upstream;

import java.util.function.Consumer;

/**
 * What one replica tells the others about a target, and hears from them (README "Headroom: spilling over before the
 * 429"): that it is blocked, or that it has little rate limit left. Posting never waits and never fails: a bulletin
 * that cannot deliver drops the notice, and each replica still routes on what it learns itself.
 */
public interface Bulletin extends AutoCloseable {

    /** A bulletin that tells nobody: each replica keeps what it learns. */
    Bulletin NONE = new Bulletin() {
        @Override
        public void post(Notice notice) {
        }

        @Override
        public void listen(Consumer<Notice> listener) {
        }

        @Override
        public void close() {
        }
    };

    /** What a notice says of its target. */
    enum Kind {
        /** It answered 429, 408 or 5xx: try it again only after {@code forMillis}. */
        BLOCKED,
        /** It said how much rate limit it has left, and that was little; the counts hold for {@code forMillis}. */
        LOW
    }

    /**
     * One thing learned about a target: a deployment at an endpoint, named as the endpoint knows it (a stand-in's
     * name, or the deployment a whole endpoint was asked for).
     *
     * @param endpoint the endpoint's configured name
     * @param deployment the deployment name sent upstream
     * @param forMillis how long it holds from the moment it is received (the sender's time in transit is taken off)
     * @param remainingTokens for {@link Kind#LOW}: the tokens the target had left, or -1 when it did not say
     * @param remainingRequests for {@link Kind#LOW}: the requests it had left, or -1 when it did not say
     */
    record Notice(Kind kind, String endpoint, String deployment, long forMillis, long remainingTokens,
            long remainingRequests) {
    }

    /** Tells the other replicas; returns at once. */
    void post(Notice notice);

    /** Hands each notice from another replica to {@code listener}, which replaces the one given before. */
    void listen(Consumer<Notice> listener);

    @Override
    void close();
}
