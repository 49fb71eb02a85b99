package io.powerproxy.loganalytics;

import io.powerproxy.usage.Spool;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets usage rows to Log Analytics in the order they were journaled, whatever the state of the service: every row is
 * appended to the {@link Spool} (the journal) on the request's thread, and one upload thread sends the journal oldest
 * first, in batches, acknowledging each batch once the service accepted it.
 *
 * <p>A batch goes out when {@code maxRows} rows wait, or {@code maxAge} after the first of them arrived. While the
 * service fails, the thread retries with backoff and the rows wait on disk, so the heap does not grow; after a restart
 * the journal is sent from the last acknowledged row. The thread also forces the journal to disk every
 * {@link #SYNC_INTERVAL}.
 */
public final class LogAnalyticsDelivery {

    /** Sends rows, in order, stopping at the first failure that may pass. */
    @FunctionalInterface
    public interface Sender {

        /** Sends the rows; the result says how many from the front are done (delivered or dead-lettered). */
        Result send(List<String> rows);
    }

    /**
     * What a {@link Sender} did.
     *
     * @param done how many rows from the front were delivered or dead-lettered; the rest must be sent again
     * @param failure why the rest was not sent, or null when all are done
     */
    public record Result(int done, Failure failure) {
    }

    /**
     * Why a request failed.
     *
     * @param at when it failed
     * @param status the HTTP status, or 0 when no response came (network, credential, timeout)
     * @param message what went wrong, in one line, without secrets
     * @param retryAfter how long the service asked to wait ({@code Retry-After}), or null
     */
    public record Failure(Instant at, int status, String message, Duration retryAfter) {

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

    /** The delays between attempts while the service fails: {@code first}, doubling up to {@code max}. */
    public record Backoff(Duration first, Duration max) {

        public Backoff {
            if (first.isNegative() || first.isZero() || max.compareTo(first) < 0) {
                throw new IllegalArgumentException("backoff needs 0 < first <= max, got " + first + " and " + max);
            }
        }

        /** The delay after the given number of failures in a row (1 for the first failure). */
        Duration delay(int failuresInARow) {
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

    private static final Logger LOG = LoggerFactory.getLogger(LogAnalyticsDelivery.class);
    private static final String NAME = "LogUsageToLogAnalytics";
    /**
     * How often the journal is forced to disk while rows arrive: a machine crash loses at most this much of what was
     * journaled. One {@code fdatasync} costs 0.3 to 1 ms, once a second is no measurable load.
     */
    static final Duration SYNC_INTERVAL = Duration.ofSeconds(1);
    /** The longest wait a {@code Retry-After} may impose. */
    private static final Duration MAX_RETRY_AFTER = Duration.ofMinutes(10);

    private final Sender sender;
    private final Spool spool;
    private final int maxRows;
    private final long maxAgeNanos;
    private final Backoff backoff;
    private final Thread uploader;

    private final ReentrantLock schedule = new ReentrantLock();
    private final Condition changed = schedule.newCondition();
    /** Guarded by {@link #schedule}: when the next upload may be tried, in {@link System#nanoTime()} terms. */
    private long nextAttemptNanos;
    /** Guarded by {@link #schedule}. */
    private int failuresInARow;
    /** Guarded by {@link #schedule}: {@link #close} was called; send what is left until this deadline. */
    private boolean stopping;
    private long stopDeadlineNanos;
    /** Upload thread only: when it last forced the journal to disk. */
    private long lastSyncNanos;
    /** When the first row of the batch being collected arrived. */
    private volatile long batchStartNanos;
    private volatile Instant downSince;
    private volatile Failure lastFailure;
    private volatile String journalProblem;
    private volatile Throwable died;

    private LogAnalyticsDelivery(Sender sender, Spool spool, int maxRows, Duration maxAge, Backoff backoff) {
        this.sender = sender;
        this.spool = spool;
        this.maxRows = maxRows;
        this.maxAgeNanos = maxAge.toNanos();
        this.backoff = backoff;
        this.uploader = Thread.ofPlatform().daemon().name("loganalytics-upload").unstarted(this::uploadUntilStopped);
        this.lastSyncNanos = System.nanoTime();
    }

    /**
     * Starts the upload thread, which sends at once what a previous process left in the journal.
     *
     * @param maxRows the most rows sent at once
     * @param maxAge how long the first row of a batch waits for more
     * @param backoff the delays between attempts while the service fails
     */
    public static LogAnalyticsDelivery start(Sender sender, Spool spool, int maxRows, Duration maxAge, Backoff backoff) {
        LogAnalyticsDelivery delivery = new LogAnalyticsDelivery(sender, spool, maxRows, maxAge, backoff);
        delivery.batchStartNanos = System.nanoTime() - delivery.maxAgeNanos;
        if (!spool.isEmpty()) {
            LOG.info("{}: {} usage records left in {} by an earlier run; sending them before any new one", NAME,
                    spool.pending(), spool.directory());
        }
        delivery.uploader.start();
        return delivery;
    }

    /**
     * Appends a row to the journal with one write; once this returns, a crash of the process cannot lose it.
     *
     * @throws IOException when the journal cannot take it (disk full, closed); the row is not in it then
     */
    public void journal(String row) throws IOException {
        long pending;
        try {
            pending = spool.append(List.of(row));
        } catch (IOException | RuntimeException e) {
            journalProblem = "the last usage record could not be written to " + spool.directory()
                    + ", so it was logged at ERROR: " + e;
            throw e;
        }
        if (journalProblem != null) {
            journalProblem = null;
        }
        if (pending == 1) {
            batchStartNanos = System.nanoTime();
        }
        if (pending == 1 || pending == maxRows) {
            wakeUploader();
        }
    }

    /** Why the sink is degraded, for the readiness probe, or null when it is not. Does no I/O. */
    public String problem() {
        Throwable death = died;
        if (death != null) {
            return "the upload of usage records stopped after an unexpected error: " + death;
        }
        String journal = journalProblem;
        Instant since = downSince;
        Failure failure = lastFailure;
        if (since == null || failure == null) {
            return journal;
        }
        return "Log Analytics unreachable since " + since + " (" + failure.describe() + "); " + spool.pending()
                + " records spooled to " + spool.directory() + (journal == null ? "" : "; " + journal);
    }

    /**
     * Sends what the journal holds for up to {@code timeout} (unless the service is failing), stops the upload
     * thread, then closes the journal; what is not sent stays on disk for the next start.
     */
    public void close(Duration timeout) {
        schedule.lock();
        try {
            stopping = true;
            stopDeadlineNanos = System.nanoTime() + timeout.toNanos();
            changed.signalAll();
        } finally {
            schedule.unlock();
        }
        try {
            uploader.join(timeout.plusSeconds(1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (uploader.isAlive()) {
            LOG.warn("{}: an upload was still running after {}; its rows stay spooled and will be sent again by the"
                    + " next start", NAME, timeout);
        }
        try {
            spool.sync();
        } catch (IOException e) {
            LOG.warn("{}: cannot force {} to disk: {}", NAME, spool.directory(), e.toString());
        }
        if (!spool.isEmpty()) {
            LOG.info("{}: {} usage records stay spooled in {} until the next start", NAME, spool.pending(),
                    spool.directory());
        }
        spool.close();
    }

    private void uploadUntilStopped() {
        try {
            while (awaitTurn()) {
                try {
                    uploadOnce();
                } catch (IOException | RuntimeException e) {
                    failed(new Failure(Instant.now(), 0, "the spool " + spool.directory() + " failed: " + e, null));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Error e) {
            died = e;
            LOG.error("{}: the upload thread stopped; usage records stay spooled until the next start", NAME, e);
            throw e;
        }
    }

    /**
     * Waits until a batch is due, forcing the journal to disk every {@link #SYNC_INTERVAL} meanwhile; false once the
     * thread is to stop: after {@link #close}, when the journal is empty, the service fails or the deadline passed.
     */
    private boolean awaitTurn() throws InterruptedException {
        long syncInterval = SYNC_INTERVAL.toNanos();
        while (true) {
            if (System.nanoTime() - lastSyncNanos >= syncInterval) {
                syncJournal();
                lastSyncNanos = System.nanoTime();
            }
            schedule.lock();
            try {
                long now = System.nanoTime();
                long due;
                if (stopping) {
                    if (spool.isEmpty() || downSince != null || now - stopDeadlineNanos >= 0) {
                        return false;
                    }
                    due = nextAttemptNanos;
                } else if (spool.isEmpty()) {
                    due = now + syncInterval;
                } else {
                    long batchDue = spool.pending() >= maxRows ? now : batchStartNanos + maxAgeNanos;
                    due = nextAttemptNanos - batchDue > 0 ? nextAttemptNanos : batchDue;
                }
                long wait = due - now;
                if (wait <= 0 && !spool.isEmpty()) {
                    return true;
                }
                changed.awaitNanos(Math.max(1, Math.min(wait, syncInterval)));
            } finally {
                schedule.unlock();
            }
        }
    }

    private void syncJournal() {
        try {
            spool.sync();
        } catch (IOException e) {
            LOG.warn("{}: cannot force {} to disk: {}", NAME, spool.directory(), e.toString());
        }
    }

    private void uploadOnce() throws IOException {
        List<Spool.Entry> entries = spool.peek(maxRows, LogAnalyticsUploader.MAX_REQUEST_BYTES);
        if (entries.isEmpty()) {
            return;
        }
        List<String> rows = new ArrayList<>(entries.size());
        entries.forEach(entry -> rows.add(entry.line()));
        Result result = sender.send(rows);
        spool.acknowledge(entries.subList(0, result.done()));
        batchStartNanos = System.nanoTime();
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
                + " attempt in {} ms", NAME, attempt, failure.describe(), spool.pending(), spool.directory(), delay.toMillis());
    }

    private void wakeUploader() {
        schedule.lock();
        try {
            changed.signalAll();
        } finally {
            schedule.unlock();
        }
    }
}
