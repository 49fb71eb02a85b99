package io.powerproxy.server;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Counts the requests whose handler is running, from its first line to its last (usage record included), so that a
 * shutdown can wait for exactly those: the JDK server's own count misses none of them but keeps some it never ends
 * (an exchange whose handler threw), and it also waits for clients that have not finished sending a request.
 */
final class RequestsInFlight extends Filter {

    private final AtomicInteger running = new AtomicInteger();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition noneLeft = lock.newCondition();
    /** Set once someone waits: only then does the last request to end take the lock to wake them. */
    private volatile boolean awaited;

    @Override
    public void doFilter(HttpExchange exchange, Chain chain) throws IOException {
        running.incrementAndGet();
        try {
            chain.doFilter(exchange);
        } finally {
            if (running.decrementAndGet() == 0 && awaited) {
                lock.lock();
                try {
                    noneLeft.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    @Override
    public String description() {
        return "counts the requests in flight, for a graceful stop";
    }

    /** How many requests are being handled now. */
    int count() {
        return running.get();
    }

    /** Waits until no request is being handled, at most {@code timeout}; true when none is left. */
    boolean awaitNone(Duration timeout) throws InterruptedException {
        awaited = true;
        long nanos = timeout.toNanos();
        lock.lock();
        try {
            while (running.get() > 0) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = noneLeft.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }
}
