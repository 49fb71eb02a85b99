package io.powerproxy.upstream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.streaming.IdleTimeout;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The wait for an answer's headers: its watch interrupts the waiting thread only while it waits, and a wait that ends
 * after the watch fired leaves no interrupt behind (a request thread left interrupted would fail its next blocking
 * write to the client).
 */
class HeadersWaitTest {

    private final IdleTimeout timer = IdleTimeout.start(Duration.ofHours(1));

    @AfterEach
    void stop() {
        Thread.interrupted();
        timer.close();
    }

    @Test
    void aWatchThatFiresBeforeTheWaitEndsIsReportedAndItsInterruptCleared() {
        UpstreamClient.HeadersWait wait = new UpstreamClient.HeadersWait(Thread.currentThread());
        IdleTimeout.Watch watch = timer.watch(wait, Duration.ofSeconds(1));

        // The answer arrived just as the watch fired: the thread was interrupted but send returned.
        wait.close();
        assertTrue(Thread.currentThread().isInterrupted());

        assertTrue(wait.end(watch));
        assertFalse(Thread.currentThread().isInterrupted(), "the watch's interrupt stayed on the request's thread");
    }

    @Test
    void aWatchThatFiresAfterTheWaitEndedInterruptsNothing() {
        UpstreamClient.HeadersWait wait = new UpstreamClient.HeadersWait(Thread.currentThread());
        IdleTimeout.Watch watch = timer.watch(wait, Duration.ofSeconds(1));

        assertFalse(wait.end(watch));
        wait.close();

        assertFalse(Thread.currentThread().isInterrupted());
    }
}
