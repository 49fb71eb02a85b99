package io.powerproxy.plugins;

import io.powerproxy.usage.BatchingWriter;
import io.powerproxy.usage.Spool;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets usage rows to Log Analytics in the order they were queued, whatever the state of the service: straight from
 * the batching writer while the service answers; from the first failed request on, through the {@link Spool} on disk,
 * which one replay thread sends oldest first, with backoff, until it is empty again.
 *
 * <p>While anything is spooled, new batches are appended behind it rather than sent, so the order holds across an
 * outage and across a restart (a new process sends what the last one spooled before anything new). A request that
 * fails after some of a batch was sent spools only the rest. A batch that cannot even be spooled (the disk fails)
 * makes {@link #write} throw, and the writer retries it with what is left of it.
 */
final class LogAnalyticsDelivery implements BatchingWriter.BatchHandler<UsageRecord> {

    /** Sends rows, in order, stopping at the first failure that may pass. */
    @FunctionalInterface
    interface Sender {

        /** Sends the rows; the result says how many from the front are done (delivered or dead-lettered). */
        Result send(List<String> rows);
    }

    /**
     * What a {@link Sender} did.
     *
     * @param done how many rows from the front were delivered or dead-lettered; the rest must be sent again
     * @param failure why the rest was not sent, or null when all are done
     */
    record Result(int done, Failure failure) {
    }

    /**
     * Why a request failed.
     *
     * @param at when it failed
     * @param status the HTTP status, or 0 when no response came (network, credential, timeout)
     * @param message what went wrong, in one line, without secrets
     * @param retryAfter how long the service asked to wait ({@code Retry-After}), or null
     */
    record Failure(Instant at, int status, String message, Duration retryAfter) {

        /** Whether the service refused the rows themselves (400, 413): sending them again would fail again. */
        boolean rejected() {
            return status == 400 || status == 413;
        }

        /** The message, led by the status unless it names it already (the SDK's start "Status code 503, ..."). */
        String describe() {
            return status == 0 || message.startsWith("Status code ") ? message : "status " + status + ": " + message;
        }

        /** A failure at the same time that is worth retrying, with its own message. */
        Failure retryable(String message) {
            return new Failure(at, 0, message, null);
        }
    }

    private static final Logger LOG = LoggerFactory.getLogger(LogAnalyticsDelivery.class);
    private static final String NAME = LogUsageToLogAnalytics.NAME;
    /** The longest wait a {@code Retry-After} may impose. */
    private static final Duration MAX_RETRY_AFTER = Duration.ofMinutes(10);
    private static final long FALLBACK_WARNING_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final Sender sender;
    private final Spool spool;
    private final Function<UsageRecord, String> toRow;
    private final int maxRows;
    private final BatchingWriter.Backoff backoff;
    private final Thread replayer;

    private final ReentrantLock schedule = new ReentrantLock();
    private final Condition changed = schedule.newCondition();
    /** Guarded by {@link #schedule}: when the replay thread may try again, in {@link System#nanoTime()} terms. */
    private long nextAttemptNanos;
    /** Guarded by {@link #schedule}. */
    private int failuresInARow;
    private volatile boolean stopping;
    private volatile Instant downSince;
    private volatile Failure lastFailure;
    private volatile Throwable died;
    private final AtomicLong lastFallbackWarning = new AtomicLong(System.nanoTime() - FALLBACK_WARNING_INTERVAL_NANOS);

    /** Writer thread only: the batch being written (a retry passes the same list) and how many of it are done. */
    private List<UsageRecord> current;
    private int currentDone;

    private LogAnalyticsDelivery(Sender sender, Spool spool, Function<UsageRecord, String> toRow, int maxRows,
            BatchingWriter.Backoff backoff) {
        this.sender = sender;
        this.spool = spool;
        this.toRow = toRow;
        this.maxRows = maxRows;
        this.backoff = backoff;
        this.replayer = Thread.ofPlatform().daemon().name("loganalytics-replay").unstarted(this::replayUntilStopped);
    }

    /**
     * Starts the replay thread, which sends at once what a previous process left in the spool.
     *
     * @param maxRows the most rows the replay thread sends at once
     * @param backoff the delays between attempts while the service fails
     */
    static LogAnalyticsDelivery start(Sender sender, Spool spool, Function<UsageRecord, String> toRow, int maxRows,
            BatchingWriter.Backoff backoff) {
        LogAnalyticsDelivery delivery = new LogAnalyticsDelivery(sender, spool, toRow, maxRows, backoff);
        if (!spool.isEmpty()) {
            LOG.info("{}: {} usage records left in {} by an earlier run; sending them before any new one", NAME,
                    spool.pending(), spool.file());
        }
        delivery.replayer.start();
        return delivery;
    }

    @Override
    public void write(List<UsageRecord> batch) throws IOException {
        if (batch != current) {
            current = batch;
            currentDone = 0;
        }
        List<String> rows = rows(batch.subList(currentDone, batch.size()));
        if (!spool.isEmpty()) {
            spool.append(rows);
            currentDone = batch.size();
            wakeReplayer();
            return;
        }
        Result result = sender.send(rows);
        currentDone += result.done();
        if (result.failure() == null) {
            succeeded();
            return;
        }
        spool.append(rows.subList(result.done(), rows.size()));
        currentDone = batch.size();
        failed(result.failure());
    }

    /**
     * Takes a record the writer could not queue or write (its queue was full, or it closed): it goes to the spool,
     * behind what is there. Only if even that fails is it logged at ERROR, as the last place that keeps it.
     */
    void spool(UsageRecord usage, String reason) {
        String row = toRow.apply(usage);
        try {
            spool.append(List.of(row));
        } catch (IOException | RuntimeException e) {
            LOG.error("{}: usage record not written ({}), and it cannot be spooled to {}: {}; the record: {}", NAME,
                    reason, spool.file(), e.toString(), row);
            return;
        }
        long last = lastFallbackWarning.get();
        long now = System.nanoTime();
        if (now - last >= FALLBACK_WARNING_INTERVAL_NANOS && lastFallbackWarning.compareAndSet(last, now)) {
            LOG.warn("{}: usage records go straight to the spool {} ({})", NAME, spool.file(), reason);
        }
        wakeReplayer();
    }

    /** Why the sink is degraded, for the readiness probe, or null when it is not. Does no I/O. */
    String problem() {
        Throwable death = died;
        if (death != null) {
            return "the replay of spooled usage records stopped after an unexpected error: " + death;
        }
        Instant since = downSince;
        Failure failure = lastFailure;
        if (since == null || failure == null) {
            return null;
        }
        return "Log Analytics unreachable since " + since + " (" + failure.describe() + "); " + spool.pending()
                + " records spooled to " + spool.file();
    }

    /**
     * Stops the replay thread, waiting for a request it is sending, then closes the spool; what is still spooled stays
     * on disk for the next start.
     */
    void close(Duration timeout) {
        stopping = true;
        wakeReplayer();
        try {
            replayer.join(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (replayer.isAlive()) {
            LOG.warn("{}: a replay request was still running after {}; its rows stay spooled and will be sent again by"
                    + " the next start", NAME, timeout);
        }
        if (!spool.isEmpty()) {
            LOG.info("{}: {} usage records stay spooled in {} until the next start", NAME, spool.pending(), spool.file());
        }
        spool.close();
    }

    private void replayUntilStopped() {
        try {
            while (awaitTurn()) {
                try {
                    replayOnce();
                } catch (IOException | RuntimeException e) {
                    failed(new Failure(Instant.now(), 0, "the spool " + spool.file() + " failed: " + e, null));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Error e) {
            died = e;
            LOG.error("{}: the replay thread stopped; spooled usage records stay on disk until the next start", NAME, e);
            throw e;
        }
    }

    /** Waits until there is something spooled and its next attempt is due; false when stopping. */
    private boolean awaitTurn() throws InterruptedException {
        schedule.lock();
        try {
            while (!stopping) {
                if (spool.isEmpty()) {
                    changed.await(1, TimeUnit.SECONDS);
                    continue;
                }
                long wait = nextAttemptNanos - System.nanoTime();
                if (wait <= 0) {
                    return true;
                }
                changed.awaitNanos(wait);
            }
            return false;
        } finally {
            schedule.unlock();
        }
    }

    private void replayOnce() throws IOException {
        List<Spool.Entry> entries = spool.peek(maxRows, LogAnalyticsUploader.MAX_REQUEST_BYTES);
        if (entries.isEmpty()) {
            return;
        }
        List<String> rows = new ArrayList<>(entries.size());
        entries.forEach(entry -> rows.add(entry.line()));
        Result result = sender.send(rows);
        spool.acknowledge(entries.subList(0, result.done()));
        if (result.failure() != null) {
            failed(result.failure());
        } else {
            succeeded();
        }
    }

    private void succeeded() {
        Instant since = downSince;
        schedule.lock();
        try {
            failuresInARow = 0;
            nextAttemptNanos = System.nanoTime();
        } finally {
            schedule.unlock();
        }
        if (since != null) {
            downSince = null;
            lastFailure = null;
            LOG.info("{}: Log Analytics takes usage records again (it failed from {}); {} spooled records left to send",
                    NAME, since, spool.pending());
        }
    }

    private void failed(Failure failure) {
        Duration delay;
        int attempt;
        schedule.lock();
        try {
            attempt = ++failuresInARow;
            delay = backoff.delay(attempt);
            if (failure.retryAfter() != null && failure.retryAfter().compareTo(delay) > 0) {
                delay = failure.retryAfter().compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : failure.retryAfter();
            }
            nextAttemptNanos = System.nanoTime() + delay.toNanos();
            changed.signalAll();
        } finally {
            schedule.unlock();
        }
        lastFailure = failure;
        if (downSince == null) {
            downSince = failure.at();
        }
        LOG.warn("{}: sending usage records to Log Analytics failed (attempt {}): {}; {} records spooled to {}, next"
                + " attempt in {} ms", NAME, attempt, failure.describe(), spool.pending(), spool.file(), delay.toMillis());
    }

    private void wakeReplayer() {
        schedule.lock();
        try {
            changed.signalAll();
        } finally {
            schedule.unlock();
        }
    }

    private List<String> rows(List<UsageRecord> batch) {
        List<String> rows = new ArrayList<>(batch.size());
        for (UsageRecord usage : batch) {
            rows.add(toRow.apply(usage));
        }
        return rows;
    }
}
