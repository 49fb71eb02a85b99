package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.usage.JsonUsageScanner;
import io.powerproxy.usage.UsageAccounting;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Passes a JSON answer on held whole, when it is small and {@link BodyMemory} has room for it, so that plugins see
 * the body and a broken answer still becomes a 502; else as {@link PassThroughRelay} does, its usage picked out on
 * the way.
 */
final class HeldJsonRelay {

    /** What is held of a JSON answer of unknown length at first; it grows by doubling. */
    private static final int FIRST_ANSWER_BUFFER = 16 * 1024;

    private final Pipeline pipeline;
    private final BodyMemory bodyMemory;
    private final int maxHeldBytes;

    /** @param maxHeldBytes larger answers pass through as they arrive */
    HeldJsonRelay(Pipeline pipeline, BodyMemory bodyMemory, int maxHeldBytes) {
        this.pipeline = pipeline;
        this.bodyMemory = bodyMemory;
        this.maxHeldBytes = maxHeldBytes;
    }

    /**
     * Passes the whole answer on; the status and response headers are set on the exchange but not sent yet.
     *
     * @param declared the answer's Content-Length, or -1
     */
    void relay(HttpExchange http, ExchangeState exchange, InputStream body, long declared, UsageAccounting accounting,
            Runnable recordUsage) throws IOException {
        BodyMemory.Reservation held = bodyMemory.newReservation();
        try {
            int capacity = declared >= 0 ? (int) Math.min(declared, maxHeldBytes) : FIRST_ANSWER_BUFFER;
            if (declared > maxHeldBytes || !held.tryAdd(capacity)) {
                PassThroughRelay.relay(http, exchange, body, declared, new JsonUsageScanner(), accounting, recordUsage);
                return;
            }
            byte[] buffer = new byte[capacity];
            int size = 0;
            while (size < buffer.length || declared < 0) {
                if (size == buffer.length) {
                    int grown = (int) Math.min(2L * buffer.length, maxHeldBytes);
                    if (grown == buffer.length || !held.tryAdd(grown - buffer.length)) {
                        passOnHeldPart(http, exchange, body, buffer, accounting, recordUsage);
                        return;
                    }
                    buffer = Arrays.copyOf(buffer, grown);
                }
                int n = PassThroughRelay.readBeforeStatus(exchange, body, buffer, size, buffer.length - size);
                if (n < 0) {
                    break;
                }
                size += n;
            }
            byte[] bytes = size == buffer.length ? buffer : Arrays.copyOf(buffer, size);
            relayHeld(http, exchange, bytes, accounting, recordUsage);
        } finally {
            held.release();
        }
    }

    private void relayHeld(HttpExchange http, ExchangeState exchange, byte[] bytes, UsageAccounting accounting,
            Runnable recordUsage) throws IOException {
        accounting.body(bytes);
        pipeline.responseBody(exchange, bytes);
        recordUsage.run();
        http.sendResponseHeaders(exchange.status(), bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            PassThroughRelay.writeToClient(http, bytes, bytes.length);
        }
    }

    /**
     * A JSON answer of unknown length outgrew what may be held of it: passes on the full buffer, then the rest as it
     * arrives (the buffer stays reserved until the answer ends, since the caller still refers to it). An answer that
     * ends right at the buffer's end is passed on whole instead.
     */
    private void passOnHeldPart(HttpExchange http, ExchangeState exchange, InputStream body, byte[] buffer,
            UsageAccounting accounting, Runnable recordUsage) throws IOException {
        byte[] block = new byte[PassThroughRelay.BLOCK];
        int n = PassThroughRelay.readBeforeStatus(exchange, body, block, 0, block.length);
        if (n < 0) {
            relayHeld(http, exchange, buffer, accounting, recordUsage);
            return;
        }
        JsonUsageScanner scanner = new JsonUsageScanner();
        scanner.feed(buffer, 0, buffer.length);
        http.sendResponseHeaders(exchange.status(), 0);
        PassThroughRelay.writeToClient(http, buffer, buffer.length);
        PassThroughRelay.passOnRest(http, body, block, n, scanner, accounting, recordUsage);
    }
}
