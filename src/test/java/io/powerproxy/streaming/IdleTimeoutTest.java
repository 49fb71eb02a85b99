package io.powerproxy.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class IdleTimeoutTest {

    private static final Duration IDLE = Duration.ofSeconds(120);

    private final AtomicLong clock = new AtomicLong(1_000);
    private final IdleTimeout idleTimeout = IdleTimeout.manual(clock::get);

    @Test
    void aWatchFiresOnlyOnceItsIdleLimitHasPassed() {
        AtomicInteger closes = new AtomicInteger();
        IdleTimeout.Watch watch = idleTimeout.watch(closes::incrementAndGet, IDLE);

        advance(IDLE);
        idleTimeout.expireIdle();
        assertFalse(watch.expired());

        advance(Duration.ofNanos(1));
        idleTimeout.expireIdle();
        idleTimeout.expireIdle();
        assertTrue(watch.expired());
        assertEquals(1, closes.get());
        assertEquals(0, idleTimeout.size());
    }

    @Test
    void touchingKeepsAWatchAlive() {
        AtomicInteger closes = new AtomicInteger();
        IdleTimeout.Watch watch = idleTimeout.watch(closes::incrementAndGet, IDLE);

        for (int i = 0; i < 10; i++) {
            advance(IDLE.minusSeconds(1));
            watch.touch();
            idleTimeout.expireIdle();
        }

        assertFalse(watch.expired());
        assertEquals(0, closes.get());
    }

    @Test
    void aClosedWatchNeverFires() {
        AtomicInteger closes = new AtomicInteger();
        IdleTimeout.Watch watch = idleTimeout.watch(closes::incrementAndGet, IDLE);

        watch.close();
        advance(IDLE.multipliedBy(2));
        idleTimeout.expireIdle();

        assertFalse(watch.expired());
        assertEquals(0, closes.get());
    }

    @Test
    void aFailingCloseDoesNotKeepOtherWatchesFromFiring() {
        AtomicInteger closes = new AtomicInteger();
        Closeable failing = () -> {
            throw new IOException("already broken");
        };
        idleTimeout.watch(failing, IDLE);
        idleTimeout.watch(() -> {
            throw new IllegalStateException("odd stream");
        }, IDLE);
        IdleTimeout.Watch healthy = idleTimeout.watch(closes::incrementAndGet, IDLE);

        advance(IDLE.plusSeconds(1));
        idleTimeout.expireIdle();

        assertTrue(healthy.expired());
        assertEquals(1, closes.get());
    }

    @Test
    void eachWatchHasItsOwnLimit() {
        IdleTimeout.Watch shortWatch = idleTimeout.watch(() -> { }, Duration.ofSeconds(5));
        IdleTimeout.Watch longWatch = idleTimeout.watch(() -> { }, Duration.ofSeconds(60));

        advance(Duration.ofSeconds(10));
        idleTimeout.expireIdle();

        assertTrue(shortWatch.expired());
        assertFalse(longWatch.expired());
    }

    @Test
    void aStreamThatReportsTheCloseAsItsEndStillFailsWithATimeout() throws IOException {
        InputStream endsWhenClosed = new ByteArrayInputStream(new byte[] {1, 2}) {
            private boolean closed;

            @Override
            public synchronized int read() {
                return closed ? -1 : super.read();
            }

            @Override
            public void close() {
                closed = true;
            }
        };
        WatchedInputStream in = idleTimeout.guard(endsWhenClosed, IDLE);
        assertEquals(1, in.read());

        advance(IDLE.plusSeconds(1));
        idleTimeout.expireIdle();

        HttpTimeoutException e = assertThrows(HttpTimeoutException.class, in::read);
        assertEquals("no data from upstream for 120 s", e.getMessage());
        assertTrue(in.timedOut());
    }

    @Test
    void closingAGuardedStreamUnregistersItsWatch() throws IOException {
        WatchedInputStream in = idleTimeout.guard(new ByteArrayInputStream(new byte[3]), IDLE);
        assertEquals(1, idleTimeout.size());

        assertEquals(3, in.readAllBytes().length);
        in.close();

        assertEquals(0, idleTimeout.size());
        assertFalse(in.timedOut());
    }

    @Test
    void anOrdinaryReadFailureIsNotCalledATimeout() {
        IOException failure = new IOException("connection reset");
        InputStream broken = new InputStream() {
            @Override
            public int read() throws IOException {
                throw failure;
            }
        };
        WatchedInputStream in = idleTimeout.guard(broken, IDLE);

        IOException thrown = assertThrows(IOException.class, in::read);
        assertEquals(failure, thrown);
    }

    @Test
    void nonPositiveDurationsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> idleTimeout.watch(() -> { }, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> IdleTimeout.start(Duration.ofMillis(-1)));
    }

    @Test
    void aClosedIdleTimeoutTakesNoNewWatches() {
        idleTimeout.close();

        assertThrows(IllegalStateException.class, () -> idleTimeout.watch(() -> { }, IDLE));
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void aReadBlockedOnASilentSocketFailsOnceTheIdleLimitHasPassed() throws IOException {
        try (IdleTimeout realTime = IdleTimeout.start(Duration.ofMillis(20));
                ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                Socket client = new Socket(server.getInetAddress(), server.getLocalPort());
                Socket upstream = server.accept();
                WatchedInputStream in = realTime.guard(client.getInputStream(), Duration.ofMillis(200))) {
            upstream.getOutputStream().write(7);
            assertEquals(7, in.read());
            long readStarted = System.nanoTime();

            HttpTimeoutException e = assertThrows(HttpTimeoutException.class, in::read);

            long waitedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - readStarted);
            assertTrue(waitedMillis >= 150, "fired after " + waitedMillis + " ms");
            assertEquals("no data from upstream for 200 ms", e.getMessage());
            assertTrue(e.getCause() instanceof IOException);
        }
    }

    private void advance(Duration d) {
        clock.addAndGet(d.toNanos());
    }
}
