/**
 * Server-sent events between the upstream and the client: {@link io.powerproxy.streaming.SseCopier} forwards
 * the upstream's bytes event by event, unchanged, flushing after each, and shows every event to an
 * {@link io.powerproxy.streaming.SseListener}, which may drop it; {@link io.powerproxy.streaming.IdleTimeout}
 * gives a blocking upstream read the idle timeout that {@code java.net.http} lacks.
 */
package io.powerproxy.streaming;
