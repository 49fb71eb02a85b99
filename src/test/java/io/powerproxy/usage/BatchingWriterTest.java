package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.usage.BatchingWriter.Backoff;
import io.powerproxy.usage.BatchingWriter.Options;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** The batching writer queues without blocking, writes in batches, retries without loss or duplicates, and flushes on close. */
class BatchingWriterTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration NEVER = Duration.ofHours(1);
    private static final Backoff FAST = new Backoff(Duration.ofMillis(1), Duration.ofMillis(4));

    /** A handler that keeps a copy of every batch it wrote, and the instances it was given. */
    private static final class Recorder implements BatchingWriter.BatchHandler<Integer> {
        final List<List<Integer>> batches = new CopyOnWriteArrayList<>();
        final List<List<Integer>> attempts = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        final CountDownLatch written;
        private final BatchingWriter.BatchHandler<Integer> beforeWrite;

        /** @param beforeWrite runs first on every attempt; it may throw to fail the attempt, or block */
        Recorder(int expected, BatchingWriter.BatchHandler<Integer> beforeWrite) {
            this.written = new CountDownLatch(expected);
            this.beforeWrite = beforeWrite;
        }

        Recorder(int expected) {
            this(expected, batch -> { });
        }

        @Override
        public void write(List<Integer> batch) throws Exception {
            attempts.add(batch);
            threads.add(Thread.currentThread().getName());
            beforeWrite.write(batch);
            batches.add(List.copyOf(batch));
            for (int i = 0; i < batch.size(); i++) {
                written.countDown();
            }
        }

        List<Integer> all() {
            return batches.stream().flatMap(List::stream).toList();
        }
    }

    /** A fallback that keeps what it got. */
    private static final class Kept implements BatchingWriter.Fallback<Integer> {
        final List<Integer> records = new CopyOnWriteArrayList<>();
        final List<String> reasons = new CopyOnWriteArrayList<>();

        @Override
        public void accept(Integer record, String reason) {
            records.add(record);
            reasons.add(reason);
        }
    }

    @Test
    void fullBatchesAreHandedOverAtOnceOnTheNamedWriterThread() throws Exception {
        Recorder recorder = new Recorder(6);
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, fallback,
                Options.defaults().withBatches(3, NEVER));

        for (int i = 0; i < 7; i++) {
            assertTrue(writer.offer(i));
        }

        assertTrue(recorder.written.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        eventually(() -> writer.written() == 6 && writer.pending() == 1);
        assertEquals(List.of(List.of(0, 1, 2), List.of(3, 4, 5)), recorder.batches);
        assertEquals(Set.of("batching-writer-test"), Set.copyOf(recorder.threads));
        assertTrue(writer.close(WAIT));
        assertEquals(List.of(List.of(0, 1, 2), List.of(3, 4, 5), List.of(6)), recorder.batches);
        assertEquals(0, writer.pending());
        assertEquals(List.of(), fallback.records);
    }

    @Test
    void aBatchThatIsNotFullIsHandedOverOnceItsFirstRecordIsOldEnough() throws Exception {
        Duration age = Duration.ofMillis(300);
        List<Long> writtenAt = new CopyOnWriteArrayList<>();
        Recorder recorder = new Recorder(3, batch -> writtenAt.add(System.nanoTime()));
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, new Kept(),
                Options.defaults().withBatches(1000, age));

        long firstOffered = System.nanoTime();
        writer.offer(1);
        writer.offer(2);
        writer.offer(3);

        assertTrue(recorder.written.await(WAIT.toMillis(), TimeUnit.MILLISECONDS), "written without a close");
        assertEquals(List.of(1, 2, 3), recorder.all());
        // Only a lower bound: on a busy machine the batch may go later, never sooner.
        long waitedMs = (writtenAt.getFirst() - firstOffered) / 1_000_000;
        assertTrue(waitedMs >= age.toMillis(), "the first batch was handed over after " + waitedMs + " ms, before "
                + "its first record was " + age.toMillis() + " ms old");
        writer.close(WAIT);
    }

    @Test
    void aFailingBatchIsRetriedAsTheSameListWhileNewRecordsQueueAndNothingIsLostOrRepeated() throws Exception {
        CountDownLatch sinkBack = new CountDownLatch(1);
        Recorder recorder = new Recorder(10, batch -> {
            if (sinkBack.getCount() > 0) {
                throw new IOException("disk full");
            }
        });
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, new Kept(),
                Options.defaults().withBatches(5, NEVER).withBackoff(FAST));

        for (int i = 0; i < 5; i++) {
            writer.offer(i);
        }
        eventually(() -> writer.failures() >= 3);
        for (int i = 5; i < 10; i++) {
            assertTrue(writer.offer(i), "records queue while the sink is down");
        }
        String problem = writer.problem();
        assertNotNull(problem);
        assertTrue(problem.startsWith("writing failed "), problem);
        assertTrue(problem.endsWith(" times in a row, retrying: IOException: disk full"), problem);
        assertEquals(10, writer.pending());
        assertEquals(0, writer.written());

        sinkBack.countDown();

        eventually(() -> writer.written() == 10);
        assertEquals(List.of(List.of(0, 1, 2, 3, 4), List.of(5, 6, 7, 8, 9)), recorder.batches);
        List<List<Integer>> attemptsAtFirst = recorder.attempts.subList(0, recorder.attempts.size() - 1);
        attemptsAtFirst.forEach(attempt -> assertSame(recorder.attempts.getFirst(), attempt));
        assertNull(writer.problem());
        assertTrue(writer.close(WAIT));
        assertEquals(10, writer.written());
        assertEquals(writer.failures(), recorder.attempts.size() - 2);
    }

    @Test
    void closeWritesWhatIsQueuedAndLaterRecordsGoToTheFallback() {
        Recorder recorder = new Recorder(10);
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, fallback,
                Options.defaults().withBatches(1000, NEVER));
        for (int i = 0; i < 10; i++) {
            writer.offer(i);
        }

        assertTrue(writer.close(WAIT));

        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), recorder.all());
        assertFalse(writer.offer(10));
        assertEquals(List.of(10), fallback.records);
        assertEquals(List.of("the writer is closed"), fallback.reasons);
        assertEquals(10, writer.written());
        assertEquals(1, writer.fellBack());
    }

    @Test
    void closeGivesUpOnASinkThatStaysDownAtItsTimeoutAndHandsEveryRecordToTheFallbackOnce() {
        BatchingWriter.BatchHandler<Integer> down = batch -> {
            throw new IOException("connection refused");
        };
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", down, fallback,
                Options.defaults().withBatches(2, NEVER).withBackoff(FAST));
        for (int i = 0; i < 5; i++) {
            writer.offer(i);
        }
        eventually(() -> writer.failures() > 0);

        long started = System.nanoTime();
        assertFalse(writer.close(Duration.ofMillis(200)));

        assertTrue(System.nanoTime() - started < WAIT.toNanos());
        // The order among abandoned records is not kept when a starved writer thread races with close().
        assertEquals(List.of(0, 1, 2, 3, 4), fallback.records.stream().sorted().toList());
        assertTrue(fallback.reasons.stream().allMatch(reason -> reason.contains("not written before the writer closed")),
                fallback.reasons.toString());
        assertEquals(0, writer.written());
        assertEquals(0, writer.pending());
    }

    @Test
    void aHandlerThatHangsDoesNotHoldUpCloseAndItsBatchGoesToTheFallback() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        BatchingWriter.BatchHandler<Integer> hanging = batch -> {
            entered.countDown();
            release.await();
        };
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", hanging, fallback,
                Options.defaults().withBatches(2, NEVER));
        for (int i = 0; i < 3; i++) {
            writer.offer(i);
        }
        assertTrue(entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));

        try {
            assertFalse(writer.close(Duration.ofMillis(100)));
            assertEquals(Set.of(0, 1, 2), Set.copyOf(fallback.records));
        } finally {
            release.countDown();
        }
    }

    @Test
    void aFullQueueBlocksTheOffererOnlyBrieflyThenUsesTheFallback() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Recorder recorder = new Recorder(3, batch -> {
            entered.countDown();
            release.await();
        });
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, fallback,
                Options.defaults().withCapacity(2).withBatches(1, NEVER).withMaxOfferWait(Duration.ofMillis(5)));
        writer.offer(0);
        assertTrue(entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS));

        assertTrue(writer.offer(1));
        assertTrue(writer.offer(2));
        assertFalse(writer.offer(3));

        assertEquals(List.of(3), fallback.records);
        assertEquals(List.of("the queue is full (2 records)"), fallback.reasons);
        release.countDown();
        assertTrue(writer.close(WAIT));
        assertEquals(List.of(0, 1, 2), recorder.all());
    }

    @Test
    void aThousandConcurrentOfferersGetEveryRecordWrittenExactlyOnceInTheirOrder() throws Exception {
        int threads = 1000;
        int perThread = 50;
        AtomicInteger calls = new AtomicInteger();
        Recorder recorder = new Recorder(threads * perThread, batch -> {
            if (calls.incrementAndGet() % 7 == 0) {
                throw new IOException("flaky sink");
            }
        });
        Kept fallback = new Kept();
        BatchingWriter<Integer> writer = BatchingWriter.start("test", recorder, fallback,
                Options.defaults().withBatches(100, Duration.ofMillis(5)).withBackoff(FAST));
        CountDownLatch start = new CountDownLatch(1);

        try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int t = 0; t < threads; t++) {
                int thread = t;
                executor.submit(() -> {
                    start.await();
                    for (int i = 0; i < perThread; i++) {
                        writer.offer(thread * perThread + i);
                    }
                    return null;
                });
            }
            start.countDown();
        }
        assertTrue(writer.close(WAIT));

        List<Integer> all = recorder.all();
        assertEquals(threads * perThread, all.size());
        assertEquals(threads * perThread, new HashSet<>(all).size());
        assertEquals(List.of(), fallback.records);
        assertTrue(writer.failures() > 0, "the sink failed now and then");
        int[] lastOfThread = new int[threads];
        Arrays.fill(lastOfThread, -1);
        for (int record : all) {
            int thread = record / perThread;
            assertTrue(record > lastOfThread[thread], "records of one thread keep their order");
            lastOfThread[thread] = record;
        }
    }

    @Test
    void theBackoffDoublesFromTheFirstDelayUpToTheCap() {
        Backoff backoff = Options.defaults().backoff();

        List<Long> delays = new ArrayList<>();
        for (int failures = 1; failures <= 11; failures++) {
            delays.add(backoff.delay(failures).toMillis());
        }

        assertEquals(List.of(100L, 200L, 400L, 800L, 1600L, 3200L, 6400L, 12800L, 25600L, 30000L, 30000L), delays);
        assertEquals(Duration.ofSeconds(30), backoff.delay(Integer.MAX_VALUE));
    }

    private static void eventually(BooleanSupplier condition) {
        Await.until("the writer's counts", WAIT, condition::getAsBoolean);
    }
}
