package io.powerproxy.streaming;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Limits the idle time between two reads of a stream that a thread reads with blocking calls, by closing
 * the stream from a timer thread, which makes the blocked {@code read()} fail at once.
 *
 * <p>{@code java.net.http} offers no read timeout for a response body, and a streaming answer may run for
 * minutes, so a timeout on the whole request does not fit. One instance serves the whole process: a single
 * daemon platform thread scans the registered {@link Watch}es every tick, so a watch fires between
 * {@code idle} and {@code idle + tick} after the last read. Registering and touching a watch take no lock;
 * touching allocates nothing.
 */
public final class IdleTimeout implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(IdleTimeout.class);

    private final LongSupplier nanoTime;
    private final Set<Watch> watches = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer;
    private volatile boolean closed;

    private IdleTimeout(LongSupplier nanoTime, ScheduledExecutorService timer) {
        this.nanoTime = nanoTime;
        this.timer = timer;
    }

    /**
     * Starts the timer thread.
     *
     * @param tick how often the watches are scanned; also the precision of every timeout
     * @return the running instance; close it at shutdown
     */
    public static IdleTimeout start(Duration tick) {
        requirePositive(tick, "tick");
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
                task -> Thread.ofPlatform().name("idle-timeout").daemon().unstarted(task));
        IdleTimeout idleTimeout = new IdleTimeout(System::nanoTime, timer);
        timer.scheduleWithFixedDelay(idleTimeout::expireIdle, tick.toNanos(), tick.toNanos(), TimeUnit.NANOSECONDS);
        return idleTimeout;
    }

    /** Returns an instance without a timer thread, for tests that drive {@link #expireIdle()} with a fake clock. */
    static IdleTimeout manual(LongSupplier nanoTime) {
        return new IdleTimeout(Objects.requireNonNull(nanoTime, "nanoTime"), null);
    }

    /**
     * Registers a watch that closes {@code toClose} once it has not been touched for {@code idle}.
     * {@code toClose.close()} runs on the timer thread, so it must not block; closing a {@code java.net.http}
     * response body does not.
     *
     * @param toClose what to close when the watch fires, normally the stream being read
     * @param idle the longest time allowed between two touches
     * @return the watch, already touched; close it when the reading ends
     */
    public Watch watch(Closeable toClose, Duration idle) {
        Objects.requireNonNull(toClose, "toClose");
        requirePositive(idle, "idle");
        if (closed) {
            throw new IllegalStateException("IdleTimeout is closed");
        }
        Watch watch = new Watch(this, toClose, idle);
        watches.add(watch);
        return watch;
    }

    /**
     * Wraps {@code in} so that a read waiting longer than {@code idle} for data fails with an
     * {@link java.net.http.HttpTimeoutException}; closing the wrapper closes {@code in} and the watch.
     *
     * @param in the stream to guard, normally an upstream response body
     * @param idle the longest time allowed between two reads
     * @return the guarded stream
     */
    public WatchedInputStream guard(InputStream in, Duration idle) {
        return new WatchedInputStream(in, watch(in, idle));
    }

    /** Fires every watch idle for longer than its limit; the timer thread calls this every tick. */
    void expireIdle() {
        long now = nanoTime.getAsLong();
        for (Watch watch : watches) {
            if (now - watch.lastTouched > watch.idleNanos && watches.remove(watch)) {
                watch.fire();
            }
        }
    }

    /** Returns how many watches are registered. */
    int size() {
        return watches.size();
    }

    /** Stops the timer thread; watches still registered no longer fire. */
    @Override
    public void close() {
        closed = true;
        if (timer != null) {
            timer.shutdownNow();
        }
        watches.clear();
    }

    private static void requirePositive(Duration duration, String name) {
        Objects.requireNonNull(duration, name);
        if (duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException(name + " must be positive: " + duration);
        }
    }

    /**
     * One registered stream: {@link #touch()} after every successful read, {@link #close()} when done.
     * Touching is meant for the one thread that reads; the other methods may be called from any thread.
     */
    public static final class Watch implements AutoCloseable {

        private final IdleTimeout owner;
        private final Closeable toClose;
        private final Duration idle;
        private final long idleNanos;
        private volatile long lastTouched;
        private volatile boolean expired;

        private Watch(IdleTimeout owner, Closeable toClose, Duration idle) {
            this.owner = owner;
            this.toClose = toClose;
            this.idle = idle;
            this.idleNanos = idle.toNanos();
            this.lastTouched = owner.nanoTime.getAsLong();
        }

        /** Records that data arrived now. */
        public void touch() {
            lastTouched = owner.nanoTime.getAsLong();
        }

        /** Returns whether the idle limit was exceeded and the stream closed. */
        public boolean expired() {
            return expired;
        }

        /** Returns the idle limit of this watch. */
        public Duration idle() {
            return idle;
        }

        /** Unregisters the watch; it will not fire after this returns, unless it is firing right now. */
        @Override
        public void close() {
            owner.watches.remove(this);
        }

        private void fire() {
            expired = true;
            try {
                toClose.close();
            } catch (IOException | RuntimeException e) {
                // A failing close must not stop the scan of every other watch.
                LOG.debug("closing an idle stream failed", e);
            }
        }
    }
}
