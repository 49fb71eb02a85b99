package io.powerproxy.pipeline;

import io.powerproxy.streaming.SseEvent;
import java.nio.ByteBuffer;
import io.powerproxy.usage.UsageRecord;

/**
 * A step of the request pipeline. Every hook has a no-op default, so a plugin overrides only what it needs.
 *
 * <p>The rules every plugin follows:
 * <ul>
 *   <li>A plugin is created once at start-up and called concurrently by many requests. Its fields are final and
 *       immutable or thread-safe.</li>
 *   <li>Anything that belongs to one request lives in the {@link Exchange} (typed fields, or
 *       {@link Exchange#put(Exchange.Key, Object)} for a plugin's private data), never in a plugin field.</li>
 *   <li>A plugin reads the request through a read-only {@link Exchange}: only the proxy records the client,
 *       deployment, target, status and usage. The request hooks ({@link #onRequestReceived},
 *       {@link #onClientIdentified}) may change the request through {@link Exchange#changeRequest()}; the changes
 *       are applied once, after the last plugin's {@code onClientIdentified}.</li>
 *   <li>A request hook, or {@link #onRequestReady}, may reject the request by throwing {@link ProxyException}; the
 *       client then gets that status and error, and no upstream is called. Any other exception there is logged with the plugin's name
 *       and the client gets 500.</li>
 *   <li>Hooks run in the order of {@code plugins[]} in the config, on the request's own virtual thread: blocking
 *       is allowed but adds to the client's latency. Hooks after the upstream call must not throw; an exception
 *       there is logged and the request goes on.</li>
 * </ul>
 */
public interface Plugin extends AutoCloseable {

    /** The request arrived; the client is not known yet. */
    default void onRequestReceived(Exchange exchange) {
    }

    /**
     * The client was identified from its key or token and the body was read: {@link Exchange#client()},
     * {@link Exchange#deployment()} and {@link Exchange#requestJson()} are known. The last chance to change the
     * request ({@link Exchange#changeRequest()}) or to refuse it.
     */
    default void onClientIdentified(Exchange exchange) {
    }

    /**
     * The request is final: every plugin's changes are applied and it goes upstream next. A plugin may still refuse it
     * (throw {@link ProxyException}) but no longer change it, and {@link Exchange#tokenDemand()} is the demand of the
     * body that goes upstream. The hook for taking something the request holds while it runs (a share of a budget);
     * give it back in {@link #onRequestEnded}, which is called whatever happens next.
     */
    default void onRequestReady(Exchange exchange) {
    }

    /** The upstream answered with a status and headers; the body has not been read yet. */
    default void onResponseHeaders(Exchange exchange) {
    }

    /**
     * The whole body of a JSON answer that the proxy held before passing it on is available (answers up to 4 MiB,
     * when the proxy's memory for bodies has room). Larger answers, and other content types, pass through as they
     * arrive and are not shown here. The buffer is a read-only view of the bytes the client gets.
     */
    default void onResponseBody(Exchange exchange, ByteBuffer body) {
    }

    /**
     * One event of a streaming response arrived and is about to be passed on to the client. The event is only
     * valid during the call: keep {@link SseEvent#data()} or {@link SseEvent#raw()}, never the event.
     */
    default void onStreamEvent(Exchange exchange, SseEvent event) {
    }

    /** A streaming response ended, normally or not ({@link Exchange#status()} tells which). */
    default void onStreamEnded(Exchange exchange) {
    }

    /**
     * The request's usage is known: called exactly once for every request that reached an upstream (or the mock),
     * whatever its outcome, <em>before</em> the last byte of the answer goes to the client (a held answer's body, the
     * last block of one passing through, a stream's {@code [DONE]} event), or when the client went away or the answer
     * broke off. A record that has reached the operating system when this returns is thus never lost for an answer
     * the client received whole; the time spent here delays the end of that answer.
     *
     * <p>The contract of a durable usage sink: when this returns, the record has been handed to the operating system
     * (a completed {@code write(2)} into a file the process owns; the page cache is enough, forcing it to disk may
     * happen later in the background). It runs on the request's path, so it must be quick: one small write, no
     * network call, no waiting for a batch. A sink that cannot write the record must not throw; it keeps the record
     * somewhere else (the built-in sinks log it at ERROR) and reports the problem in {@link #readinessProblem()}.
     */
    default void onUsage(Exchange exchange, UsageRecord usage) {
    }

    /**
     * The request ended, whatever its outcome: answered, refused by the proxy or a plugin, failed, or given up by the
     * client. Called exactly once for every request the proxy handled, after {@link #onUsage} when there was a usage
     * record. Like {@link #onUsage}, it runs before the last byte of the answer (or of the error) goes to the client
     * when the proxy still has one to send, so a client that sends its next request at once finds what was given back
     * here; when the client went away or the answer broke off, it runs when the request ends. It must not throw, and
     * must be quick: it runs on the request's path.
     */
    default void onRequestEnded(Exchange exchange) {
    }

    /**
     * Why this plugin cannot do its job right now (for the readiness probe), or null when it is fine.
     * Called often and from any thread: answer from state, do no I/O here.
     */
    default String readinessProblem() {
        return null;
    }

    /** Flushes and releases what the plugin holds; called once at shutdown, after the last request. */
    @Override
    default void close() {
    }
}
