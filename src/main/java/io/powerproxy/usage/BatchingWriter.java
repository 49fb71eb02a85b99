package io.powerproxy.usage;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A queue that takes records on the request path without blocking, and one writer thread that hands them to a
 * {@link BatchHandler} in batches, retrying a failed batch with backoff until it is written: the plumbing of
 * every usage sink.
 *
 * <p>The guarantees: records reach the handler in the order they were offered, each in exactly one successful
 * batch; a failed batch is retried as the same list, in the same order, while new records keep queueing. A record
 * that cannot be queued (the queue is full, or the writer is closed) or that is still unwritten when
 * {@link #close(Duration)} gives up goes to the {@link Fallback} instead, so none is dropped silently.
 *
 * <p>A batch is handed over when it holds {@link Options#maxBatchSize()} records, or {@link Options#maxBatchAge()}
 * after its first record was taken from the queue, whichever comes first.
 *
 * @param <T> the record type; records must be immutable
 */
public final class BatchingWriter<T> {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingWriter.class);
    /** How often an idle writer looks whether it was closed. */
    private static final long IDLE_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** Writes one batch to the sink; throws to have the same batch retried. */
    @FunctionalInterface
    public interface BatchHandler<T> {

        /**
         * Writes every record of the batch, in order. Called from the writer thread only, one batch at a time.
         * When it throws, the very same list (same instance, unmodifiable) is passed again after a backoff, so a
         * handler that writes a batch in parts may remember which parts are done and skip them on the retry.
         */
        void write(List<T> batch) throws Exception;
    }

    /** Takes a record that cannot be written, e.g. to log it, so that it is not lost. Must not throw or block long. */
    @FunctionalInterface
    public interface Fallback<T> {

        /** @param reason why the record was not written, e.g. "the queue is full (100000 records)" */
        void accept(T record, String reason);
    }

    /**
     * The delays between attempts at a failing batch: {@code first}, doubling up to {@code max}.
     */
    public record Backoff(Duration first, Duration max) {

        public Backoff {
            if (first.isNegative() || first.isZero() || max.compareTo(first) < 0) {
                throw new IllegalArgumentException("backoff needs 0 < first <= max, got " + first + " and " + max);
            }
        }

        /** The delay after the given number of failures in a row (1 for the first failure). */
        public Duration delay(int failuresInARow) {
            if (failuresInARow < 1) {
                throw new IllegalArgumentException("failuresInARow must be at least 1: " + failuresInARow);
            }
            int doublings = Math.min(failuresInARow - 1, 40);
            long nanos = first.toNanos();
            for (int i = 0; i < doublings && nanos < max.toNanos(); i++) {
                nanos *= 2;
            }
            return Duration.ofNanos(Math.min(nanos, max.toNanos()));
        }
    }

    /**
     * How a writer queues and batches.
     *
     * @param capacity how many records may wait in the queue; about 400 bytes of heap each for a usage record
     * @param maxBatchSize the most records handed to the handler at once
     * @param maxBatchAge how long a batch waits for more records after its first one
     * @param maxOfferWait how long {@link #offer} may block when the queue is full before it uses the fallback
     * @param backoff the delays between attempts at a failing batch
     */
    public record Options(int capacity, int maxBatchSize, Duration maxBatchAge, Duration maxOfferWait, Backoff backoff) {

        public Options {
            if (capacity < 1 || maxBatchSize < 1) {
                throw new IllegalArgumentException("capacity and maxBatchSize must be at least 1");
            }
            if (maxBatchAge.isNegative() || maxOfferWait.isNegative()) {
                throw new IllegalArgumentException("maxBatchAge and maxOfferWait must not be negative");
            }
            Objects.requireNonNull(backoff, "backoff");
        }

        /**
         * 100,000 records (about 40 MB at most), batches of up to 500 records or 500 ms, 10 ms of blocking when full,
         * retries after 100 ms doubling up to 30 s.
         */
        public static Options defaults() {
            return new Options(100_000, 500, Duration.ofMillis(500), Duration.ofMillis(10),
                    new Backoff(Duration.ofMillis(100), Duration.ofSeconds(30)));
        }

        public Options withCapacity(int capacity) {
            return new Options(capacity, maxBatchSize, maxBatchAge, maxOfferWait, backoff);
        }

        public Options withBatches(int maxBatchSize, Duration maxBatchAge) {
            return new Options(capacity, maxBatchSize, maxBatchAge, maxOfferWait, backoff);
        }

        public Options withMaxOfferWait(Duration maxOfferWait) {
            return new Options(capacity, maxBatchSize, maxBatchAge, maxOfferWait, backoff);
        }

        public Options withBackoff(Backoff backoff) {
            return new Options(capacity, maxBatchSize, maxBatchAge, maxOfferWait, backoff);
        }
    }

    private final String name;
    private final BatchHandler<T> handler;
    private final Fallback<T> fallback;
    private final Options options;
    private final LinkedBlockingQueue<T> queue;
    private final Thread thread;

    private final LongAdder written = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder fellBack = new LongAdder();
    private final AtomicReference<List<T>> inFlight = new AtomicReference<>();
    /** How many records the writer took from the queue and has not written or given up yet. */
    private volatile int held;
    private final CountDownLatch closeRequested = new CountDownLatch(1);
    private final AtomicBoolean closeCalled = new AtomicBoolean();
    private final LongAdder abandoned = new LongAdder();
    private volatile boolean closing;
    private volatile long closeDeadline;
    /** Set once the writer thread will take nothing more from the queue. */
    private volatile boolean stopped;
    private volatile int failuresInARow;
    private volatile Exception lastFailure;
    private volatile Throwable died;

    private BatchingWriter(String name, BatchHandler<T> handler, Fallback<T> fallback, Options options) {
        this.name = name;
        this.handler = handler;
        this.fallback = fallback;
        this.options = options;
        this.queue = new LinkedBlockingQueue<>(options.capacity());
        this.thread = Thread.ofPlatform().daemon().name("batching-writer-" + name).unstarted(this::run);
    }

    /**
     * Creates a writer and starts its thread.
     *
     * @param name names the thread ({@code batching-writer-<name>}) and log messages, e.g. {@code LogUsageToCsvFile}
     */
    public static <T> BatchingWriter<T> start(String name, BatchHandler<T> handler, Fallback<T> fallback, Options options) {
        BatchingWriter<T> writer = new BatchingWriter<>(Objects.requireNonNull(name, "name"),
                Objects.requireNonNull(handler, "handler"), Objects.requireNonNull(fallback, "fallback"),
                Objects.requireNonNull(options, "options"));
        writer.thread.start();
        return writer;
    }

    /**
     * A fallback that logs each record at ERROR as one line, so that the log keeps what the sink could not.
     *
     * @param what names the records in the message, e.g. {@code LogUsageToCsvFile: usage record}
     * @param format turns a record into one line of text, e.g. JSON with every field
     */
    public static <T> Fallback<T> logAtError(String what, Function<T, String> format) {
        Objects.requireNonNull(what, "what");
        Objects.requireNonNull(format, "format");
        return (record, reason) -> LOG.error("{} not written ({}): {}", what, reason, format.apply(record));
    }

    /**
     * Queues a record for writing; does no I/O. Returns at once unless the queue is full, then blocks for at most
     * {@link Options#maxOfferWait()} before handing the record to the fallback.
     *
     * @return true when the record was queued, false when it went to the fallback
     */
    public boolean offer(T record) {
        Objects.requireNonNull(record, "record");
        if (closing) {
            toFallback(record, "the writer is closed");
            return false;
        }
        boolean queued = queue.offer(record);
        if (!queued) {
            try {
                queued = queue.offer(record, options.maxOfferWait().toNanos(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!queued) {
            toFallback(record, "the queue is full (" + options.capacity() + " records)");
            return false;
        }
        // A record that raced with close() after the writer's last look at the queue is not left behind.
        if (stopped) {
            drainToFallback("the writer is closed");
        }
        return true;
    }

    /** How many records were written. */
    public long written() {
        return written.sum();
    }

    /** How many records are queued, being collected into a batch or being written. */
    public int pending() {
        return queue.size() + held;
    }

    /** How many attempts at writing a batch failed, in all. */
    public long failures() {
        return failures.sum();
    }

    /** How many records went to the fallback instead of the sink. */
    public long fellBack() {
        return fellBack.sum();
    }

    /**
     * Why the writer is not healthy, for the readiness probe, or null when it is: the last batch failed and is
     * being retried, or the writer thread died.
     */
    public String problem() {
        Throwable death = died;
        if (death != null) {
            return "the writer stopped after an unexpected error: " + describe(death);
        }
        int failed = failuresInARow;
        Exception last = lastFailure;
        if (failed == 0 || last == null) {
            return null;
        }
        return "writing failed " + failed + (failed == 1 ? " time" : " times") + " in a row, retrying: " + describe(last);
    }

    /**
     * Stops taking records (later offers go to the fallback), writes everything queued, retrying failures until the
     * timeout, and returns. Records not written by then go to the fallback. Calling it again does nothing.
     *
     * @return true when everything queued was written, false when records went to the fallback
     */
    public boolean close(Duration timeout) {
        if (!closeCalled.compareAndSet(false, true)) {
            return abandoned.sum() == 0;
        }
        closeDeadline = System.nanoTime() + timeout.toNanos();
        closing = true;
        closeRequested.countDown();
        try {
            thread.join(timeout.plusMillis(IDLE_POLL_NANOS / 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        stopped = true;
        List<T> stuck = inFlight.getAndSet(null);
        if (stuck != null) {
            // The handler hangs; its batch may yet be written, so these may show up twice (in the sink and the log).
            LOG.error("{}: a batch of {} records was still being written after {}; handing it to the fallback",
                    name, stuck.size(), timeout);
            stuck.forEach(record -> abandon(record, "still being written when the writer closed"));
            held = 0;
        }
        drainToFallback("not written before the writer closed");
        return abandoned.sum() == 0;
    }

    private void run() {
        try {
            while (true) {
                List<T> batch = nextBatch();
                if (batch == null) {
                    return;
                }
                inFlight.set(batch);
                writeUntilDone(batch);
                inFlight.compareAndSet(batch, null);
                held = 0;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            died = e;
            LOG.error("{}: the writer thread stopped; records go to the fallback from now on", name, e);
        } finally {
            held = 0;
            stopped = true;
            closing = true;
            List<T> unfinished = inFlight.getAndSet(null);
            if (unfinished != null) {
                unfinished.forEach(record -> abandon(record, "not written before the writer stopped"));
            }
            drainToFallback("not written before the writer stopped");
        }
    }

    /** The next batch, or null when the writer is closing and the queue is empty. */
    private List<T> nextBatch() throws InterruptedException {
        T first = queue.poll();
        while (first == null) {
            if (closing) {
                return null;
            }
            first = queue.poll(IDLE_POLL_NANOS, TimeUnit.NANOSECONDS);
        }
        if (closing && pastCloseDeadline()) {
            abandon(first, "not written before the writer closed");
            drainToFallback("not written before the writer closed");
            return null;
        }
        List<T> batch = new ArrayList<>(Math.min(options.maxBatchSize(), 1024));
        batch.add(first);
        held = 1;
        long deadline = System.nanoTime() + options.maxBatchAge().toNanos();
        while (batch.size() < options.maxBatchSize()) {
            if (queue.drainTo(batch, options.maxBatchSize() - batch.size()) > 0) {
                held = batch.size();
                continue;
            }
            long remaining = deadline - System.nanoTime();
            if (closing || remaining <= 0) {
                break;
            }
            T next = queue.poll(Math.min(remaining, IDLE_POLL_NANOS), TimeUnit.NANOSECONDS);
            if (next != null) {
                batch.add(next);
                held = batch.size();
            }
        }
        return Collections.unmodifiableList(batch);
    }

    private void writeUntilDone(List<T> batch) throws InterruptedException {
        while (true) {
            Exception failure;
            try {
                handler.write(batch);
                written.add(batch.size());
                if (failuresInARow > 0) {
                    LOG.info("{}: writing works again after {} failed attempts", name, failuresInARow);
                }
                failuresInARow = 0;
                lastFailure = null;
                return;
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                failure = e;
            }
            failures.increment();
            failuresInARow++;
            lastFailure = failure;
            Duration delay = options.backoff().delay(failuresInARow);
            LOG.warn("{}: writing {} records failed (attempt {}), retrying in {} ms: {}", name, batch.size(),
                    failuresInARow, delay.toMillis(), describe(failure));
            if (!waitBeforeRetry(delay)) {
                if (inFlight.compareAndSet(batch, null)) {
                    batch.forEach(record -> abandon(record, "not written before the writer closed: " + describe(failure)));
                }
                return;
            }
        }
    }

    /** Waits out a retry delay, cut short by the close deadline; false when that deadline has passed. */
    private boolean waitBeforeRetry(Duration delay) throws InterruptedException {
        long until = System.nanoTime() + delay.toNanos();
        if (!closeRequested.await(delay.toNanos(), TimeUnit.NANOSECONDS)) {
            return true;
        }
        long now = System.nanoTime();
        long rest = Math.min(until - now, closeDeadline - now);
        if (rest > 0) {
            TimeUnit.NANOSECONDS.sleep(rest);
        }
        return !pastCloseDeadline();
    }

    private boolean pastCloseDeadline() {
        return System.nanoTime() - closeDeadline >= 0;
    }

    /** Hands every queued record to the fallback: they were accepted, so they count as abandoned. */
    private void drainToFallback(String reason) {
        T record;
        while ((record = queue.poll()) != null) {
            abandon(record, reason);
        }
    }

    private void abandon(T record, String reason) {
        abandoned.increment();
        toFallback(record, reason);
    }

    private void toFallback(T record, String reason) {
        fellBack.increment();
        try {
            fallback.accept(record, reason);
        } catch (RuntimeException e) {
            LOG.error("{}: the fallback failed for a record ({}): {}", name, reason, record, e);
        }
    }

    private static String describe(Throwable failure) {
        String message = failure.getMessage();
        return failure.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
