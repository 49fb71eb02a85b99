package io.powerproxy.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import ch.qos.logback.core.AppenderBase;
import ch.qos.logback.core.status.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The shipped logback.xml's background appender: every event arrives, in order, also when the queue is full. */
class BatchingAsyncAppenderTest {

    private final LoggerContext context = new LoggerContext();
    private final Recorder recorder = new Recorder();
    private final BatchingAsyncAppender appender = new BatchingAsyncAppender();

    @AfterEach
    void stop() {
        recorder.open.countDown();
        appender.stop();
        context.stop();
    }

    @Test
    void everyEventOfManyThreadsArrivesInEachThreadsOrder() throws Exception {
        Logger log = started(16_384, 10);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            int thread = t;
            threads.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; i < 2_000; i++) {
                    log.info("{} {}", thread, i);
                }
            }));
        }
        for (Thread thread : threads) {
            thread.join();
        }
        appender.stop();

        List<String> messages = recorder.messages();
        assertEquals(16_000, messages.size());
        int[] next = new int[8];
        for (String message : messages) {
            String[] parts = message.split(" ");
            int thread = Integer.parseInt(parts[0]);
            assertEquals(next[thread]++, Integer.parseInt(parts[1]), "thread " + thread + "'s events out of order");
        }
    }

    @Test
    void aLoneEventIsHandedOnWithoutWaitingForMore() throws Exception {
        Logger log = started(16, 60_000);

        log.info("alone");

        assertTrue(recorder.arrived.tryAcquire(10, TimeUnit.SECONDS), "the lone event never arrived");
        assertEquals(List.of("alone"), recorder.messages());
    }

    @Test
    void aFullQueueMakesTheCallerWaitInsteadOfDroppingAndStoppingHandsOnTheRest() throws Exception {
        recorder.open = new CountDownLatch(1);
        Logger log = started(2, 0);
        Thread caller = Thread.ofPlatform().start(() -> {
            for (int i = 0; i < 6; i++) {
                log.info("event {}", i);
            }
        });
        // The thread holds one event in the blocked appender, the queue two more: the caller waits for room.
        awaitState(caller, Thread.State.WAITING);
        assertTrue(caller.isAlive());

        recorder.open.countDown();
        caller.join(10_000);
        assertFalse(caller.isAlive());
        appender.stop();

        assertEquals(List.of("event 0", "event 1", "event 2", "event 3", "event 4", "event 5"), recorder.messages());
    }

    @Test
    void anInterruptedCallerStillGetsItsEventOutAndStaysInterrupted() throws Exception {
        recorder.open = new CountDownLatch(1);
        Logger log = started(1, 0);
        log.info("first");
        // The thread holds "first" in the blocked appender; "second" fills the queue.
        assertTrue(recorder.entered.tryAcquire(10, TimeUnit.SECONDS));
        log.info("second");
        boolean[] stillInterrupted = new boolean[1];
        Thread caller = Thread.ofPlatform().start(() -> {
            Thread.currentThread().interrupt();
            log.info("interrupted");
            stillInterrupted[0] = Thread.currentThread().isInterrupted();
        });
        awaitState(caller, Thread.State.WAITING);
        caller.interrupt();
        recorder.open.countDown();
        caller.join(10_000);
        appender.stop();

        assertEquals(List.of("first", "second", "interrupted"), recorder.messages());
        assertTrue(stillInterrupted[0]);
    }

    @Test
    void withoutAnAppenderToHandOnToItDoesNotStart() {
        appender.setContext(context);
        appender.setName("NOWHERE");

        appender.start();

        assertFalse(appender.isStarted());
        assertTrue(context.getStatusManager().getCopyOfStatusList().stream()
                .anyMatch(status -> status.getLevel() == Status.ERROR && status.getMessage().contains("NOWHERE")));
    }

    private Logger started(int queueSize, int batchMillis) {
        context.setMDCAdapter(new LogbackMDCAdapter());
        recorder.setContext(context);
        recorder.start();
        appender.setContext(context);
        appender.setName("TEST");
        appender.setQueueSize(queueSize);
        appender.setBatchMillis(batchMillis);
        appender.addAppender(recorder);
        appender.start();
        assertTrue(appender.isStarted());
        Logger log = context.getLogger("io.powerproxy.test");
        log.setAdditive(false);
        log.addAppender(appender);
        return log;
    }

    private static void awaitState(Thread thread, Thread.State state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (thread.getState() != state && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(state, thread.getState());
    }

    /** Keeps the formatted messages; waits at {@link #open} before each, to hold the background thread there. */
    private static final class Recorder extends AppenderBase<ILoggingEvent> {
        private final List<String> messages = new ArrayList<>();
        private final Semaphore entered = new Semaphore(0);
        private final Semaphore arrived = new Semaphore(0);
        volatile CountDownLatch open = new CountDownLatch(0);

        @Override
        protected void append(ILoggingEvent event) {
            entered.release();
            try {
                open.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (messages) {
                messages.add(event.getFormattedMessage());
            }
            arrived.release();
        }

        List<String> messages() {
            synchronized (messages) {
                return List.copyOf(messages);
            }
        }
    }
}
