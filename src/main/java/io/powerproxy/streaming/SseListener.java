package io.powerproxy.streaming;

/**
 * Sees each event that {@link SseCopier} reads from the upstream and decides whether the client gets it.
 */
@FunctionalInterface
public interface SseListener {

    /** A listener that forwards every event and looks at none. */
    SseListener FORWARD_ALL = event -> true;

    /**
     * Called once per event, in stream order, on the thread that copies the stream, before the event is
     * written to the client.
     *
     * <p>The event is a view into the copier's buffer and is valid only until this method returns; keep
     * {@link SseEvent#data()} or {@link SseEvent#raw()} if you need the content later. An exception thrown
     * here ends the copy and reaches the caller of {@link SseCopier#copy} unchanged.
     *
     * @param event the event as the upstream sent it
     * @return true to forward the event's bytes to the client, false to drop them
     */
    boolean onEvent(SseEvent event);
}
