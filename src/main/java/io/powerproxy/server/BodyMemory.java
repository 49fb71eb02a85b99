package io.powerproxy.server;

import io.powerproxy.pipeline.ProxyException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The heap that request bodies, and the JSON answers held before they are passed on, may take at once, over all
 * requests in flight.
 *
 * <p>The proxy holds each request body in memory until the request ends, so that it can send it again to the next
 * target when one fails. A JSON answer of up to {@link AnswerRelay#MAX_BUFFERED_ANSWER_BYTES} is held whole
 * too, when this bound has room for it, so that a broken answer can still become a 502 and plugins see the body;
 * without room it is passed on as it arrives instead, and nothing is refused. One body may be up to {@link ProxyHandler#MAX_BODY_BYTES}; a few clients uploading
 * batch files or audio at the same time would otherwise fill the heap, and an {@link OutOfMemoryError} ends every
 * stream of every client. With this bound, the request that would cross it is refused with 503 {@code ServerBusy}
 * and {@code retry-after}, which the openai SDKs retry, and everything else goes on.
 *
 * <p>The bound is {@value #PROPERTY} (MiB) when set, else a quarter of the maximum heap.
 */
final class BodyMemory {

    /** The system property that sets the bound, in MiB. */
    static final String PROPERTY = "powerproxy.requestBodyMemoryMiB";

    private final long capacity;
    private final AtomicLong inUse = new AtomicLong();

    BodyMemory(long capacity) {
        this.capacity = capacity;
    }

    /** The bound from {@value #PROPERTY}, else a quarter of the maximum heap. */
    static BodyMemory fromSystemProperties() {
        String mib = System.getProperty(PROPERTY);
        if (mib == null || mib.isBlank()) {
            return new BodyMemory(Runtime.getRuntime().maxMemory() / 4);
        }
        try {
            long value = Long.parseLong(mib.trim());
            if (value <= 0) {
                throw new NumberFormatException();
            }
            return new BodyMemory(value << 20);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + " must be a positive number of MiB, not '" + mib + "'");
        }
    }

    long capacity() {
        return capacity;
    }

    /** Bytes reserved now, over all requests. */
    long inUse() {
        return inUse.get();
    }

    /**
     * Reserves {@code bytes} more for one request.
     *
     * @throws ProxyException 503 {@code ServerBusy} when that would cross the bound; nothing is reserved then
     */
    void reserve(long bytes) {
        if (!tryReserve(bytes)) {
            throw ProxyException.of(503, "ServerBusy", "The proxy holds as many request bodies as its memory"
                            + " allows (" + (capacity >> 20) + " MiB); retry shortly.")
                    .withHeader("retry-after", "1");
        }
    }

    /** Reserves {@code bytes} more unless that would cross the bound; returns whether it did. */
    boolean tryReserve(long bytes) {
        while (true) {
            long now = inUse.get();
            if (now + bytes > capacity) {
                return false;
            }
            if (inUse.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    /** Gives back what a request reserved. */
    void release(long bytes) {
        if (bytes != 0) {
            inUse.addAndGet(-bytes);
        }
    }

    /** A new, empty reservation for one request. */
    Reservation newReservation() {
        return new Reservation();
    }

    /** What one request holds; used by that request's thread only. */
    final class Reservation {
        private long bytes;

        private Reservation() {
        }

        /** Reserves {@code more} bytes, as {@link BodyMemory#reserve} does. */
        void add(long more) {
            reserve(more);
            bytes += more;
        }

        /** Reserves {@code more} bytes unless that would cross the bound; returns whether it did. */
        boolean tryAdd(long more) {
            if (!tryReserve(more)) {
                return false;
            }
            bytes += more;
            return true;
        }

        /** Gives back all this reservation holds; a second call gives back nothing. */
        void release() {
            BodyMemory.this.release(bytes);
            bytes = 0;
        }
    }
}
