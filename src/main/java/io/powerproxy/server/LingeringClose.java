package io.powerproxy.server;

import io.powerproxy.streaming.IdleTimeout;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Reads and throws away what is left of a refused request's body, within bounds, before its connection closes, as
 * nginx's lingering close does.
 *
 * <p>A client that is still sending its body does not read the answer yet. If the proxy closed the connection with
 * the client's bytes unread, the kernel would answer them with a reset, and a reset makes the client's kernel drop
 * the error answer it had already received: the client would see no status line at all. So the error answer goes
 * out first, with {@code Connection: close}, and the rest of the body is read here and dropped (no memory is
 * reserved for it) until it ends, for at most {@link #MAX_TIME} and {@link #MAX_BYTES}, and no longer than
 * {@link #MAX_IDLE} after the client last sent something.
 */
final class LingeringClose {

    /** The most time spent reading a refused body. */
    static final Duration MAX_TIME = Duration.ofSeconds(30);
    /** How long the client may send nothing before the proxy gives up on the rest of its body. */
    static final Duration MAX_IDLE = Duration.ofSeconds(5);
    /** The most bytes read of a refused body: the largest body the proxy would have accepted. */
    static final long MAX_BYTES = ProxyHandler.MAX_BODY_BYTES;

    private final IdleTimeout idleTimeout;

    LingeringClose(IdleTimeout idleTimeout) {
        this.idleTimeout = idleTimeout;
    }

    /**
     * Reads {@code body} to its end or to a bound, on the request's own thread. A client silent for longer than the
     * idle bound has its read interrupted, which closes the connection.
     *
     * @return whether the body was read to its end
     */
    boolean discardRest(InputStream body) {
        long deadline = System.nanoTime() + MAX_TIME.toNanos();
        long discarded = 0;
        byte[] buffer = new byte[16 * 1024];
        Interrupter interrupter = new Interrupter(Thread.currentThread());
        try (IdleTimeout.Watch watch = idleTimeout.watch(interrupter, MAX_IDLE)) {
            while (discarded < MAX_BYTES && System.nanoTime() < deadline) {
                int n = body.read(buffer);
                if (n < 0) {
                    return true;
                }
                discarded += n;
                watch.touch();
            }
            return false;
        } catch (IOException e) {
            // The client went away, or went silent and the watch interrupted the read.
            return false;
        } finally {
            if (interrupter.disarm()) {
                // The interrupt was for the read that just ended, not for whatever this thread does next.
                Thread.interrupted();
            }
        }
    }

    /** Interrupts the reading thread when the idle watch fires, unless the reading is over. */
    private static final class Interrupter implements Closeable {
        private final ReentrantLock lock = new ReentrantLock();
        private final Thread reader;
        private boolean armed = true;
        private boolean fired;

        Interrupter(Thread reader) {
            this.reader = reader;
        }

        @Override
        public void close() {
            lock.lock();
            try {
                if (armed) {
                    fired = true;
                    reader.interrupt();
                }
            } finally {
                lock.unlock();
            }
        }

        /** Ends the watch's power to interrupt; returns whether it interrupted the reader. */
        boolean disarm() {
            lock.lock();
            try {
                armed = false;
                return fired;
            } finally {
                lock.unlock();
            }
        }
    }
}
