package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.usage.JsonUsageScanner;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies an upstream's answer that is not an event stream to the client, in bounded memory: a JSON answer of up to
 * {@link #MAX_BUFFERED_ANSWER_BYTES} is held whole (when {@link BodyMemory} has room) and shown to the plugins, and
 * anything else passes through as it arrives, a JSON answer's usage picked out on the way. Either way the usage
 * record is made before the answer's last byte leaves, and the status goes out only with the first bytes of the
 * body, so that an upstream that closes before its body gives the client a 502 error instead of an empty reply.
 */
final class AnswerRelay {

    /**
     * JSON answers up to this size are held whole before they are passed on: chat answers are a few KB, and 4 MiB
     * still holds over 100 embeddings of 1,536 dimensions. Larger ones pass through as they arrive.
     */
    static final int MAX_BUFFERED_ANSWER_BYTES = 4 * 1024 * 1024;

    /** What is held of a JSON answer of unknown length at first; it grows by doubling. */
    private static final int FIRST_ANSWER_BUFFER = 16 * 1024;
    /** Bytes read from the upstream at a time when an answer passes through as it arrives. */
    private static final int BLOCK = 16 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(AnswerRelay.class);

    private final Pipeline pipeline;
    private final BodyMemory bodyMemory;

    AnswerRelay(Pipeline pipeline, BodyMemory bodyMemory) {
        this.pipeline = pipeline;
        this.bodyMemory = bodyMemory;
    }

    /**
     * Passes the answer on; the status and response headers are set on the exchange but not sent yet.
     *
     * @param json whether the answer is JSON (its usage is counted)
     * @param recordUsage makes the request's usage record; run once, before the answer's last byte leaves
     * @throws ProxyException 502 when the upstream fails before any byte of the body went out
     * @throws ClientGoneException when writing to the client fails
     * @throws IOException an {@code UpstreamBrokeOff} when the upstream fails after the status went out
     */
    void relay(HttpExchange http, ExchangeState exchange, InputStream body, UsageAccounting accounting, boolean json,
            Runnable recordUsage) throws IOException {
        if (json) {
            relayJson(http, exchange, body, accounting, recordUsage);
        } else {
            relayAsItArrives(http, exchange, body, declaredLength(exchange), null, accounting, recordUsage);
        }
    }

    /**
     * Passes a JSON answer on: held whole when it is small and {@link #bodyMemory} has room for it, so that plugins
     * see the body and a broken answer still becomes a 502; else as it arrives, its usage picked out on the way.
     */
    private void relayJson(HttpExchange http, ExchangeState exchange, InputStream body, UsageAccounting accounting,
            Runnable recordUsage) throws IOException {
        long declared = declaredLength(exchange);
        BodyMemory.Reservation held = bodyMemory.newReservation();
        try {
            int capacity = declared >= 0 ? (int) Math.min(declared, MAX_BUFFERED_ANSWER_BYTES) : FIRST_ANSWER_BUFFER;
            if (declared > MAX_BUFFERED_ANSWER_BYTES || !held.tryAdd(capacity)) {
                relayAsItArrives(http, exchange, body, declared, new JsonUsageScanner(), accounting, recordUsage);
                return;
            }
            byte[] buffer = new byte[capacity];
            int size = 0;
            while (size < buffer.length || declared < 0) {
                if (size == buffer.length) {
                    int grown = (int) Math.min(2L * buffer.length, MAX_BUFFERED_ANSWER_BYTES);
                    if (grown == buffer.length || !held.tryAdd(grown - buffer.length)) {
                        passOnHeldPart(http, exchange, body, buffer, accounting, recordUsage);
                        return;
                    }
                    buffer = Arrays.copyOf(buffer, grown);
                }
                int n = readFromUpstream(exchange, body, buffer, size, buffer.length - size);
                if (n < 0) {
                    break;
                }
                size += n;
            }
            byte[] bytes = size == buffer.length ? buffer : Arrays.copyOf(buffer, size);
            relayBuffered(http, exchange, bytes, accounting, recordUsage);
        } finally {
            held.release();
        }
    }

    private void relayBuffered(HttpExchange http, ExchangeState exchange, byte[] bytes, UsageAccounting accounting,
            Runnable recordUsage) throws IOException {
        accounting.body(bytes);
        pipeline.responseBody(exchange, bytes);
        recordUsage.run();
        http.sendResponseHeaders(exchange.status(), bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            writeToClient(http, bytes, bytes.length);
        }
    }

    /**
     * A JSON answer of unknown length outgrew what may be held of it: passes on the full buffer, then the rest as it
     * arrives (the buffer stays reserved until the answer ends, since the caller still refers to it). An answer that
     * ends right at the buffer's end is passed on whole instead.
     */
    private void passOnHeldPart(HttpExchange http, ExchangeState exchange, InputStream body, byte[] buffer,
            UsageAccounting accounting, Runnable recordUsage) throws IOException {
        byte[] block = new byte[BLOCK];
        int n = readFromUpstream(exchange, body, block, 0, block.length);
        if (n < 0) {
            relayBuffered(http, exchange, buffer, accounting, recordUsage);
            return;
        }
        JsonUsageScanner scanner = new JsonUsageScanner();
        scanner.feed(buffer, 0, buffer.length);
        http.sendResponseHeaders(exchange.status(), 0);
        writeToClient(http, buffer, buffer.length);
        passOnRest(http, body, block, n, scanner, accounting, recordUsage);
    }

    /**
     * Passes an answer on as it arrives, in blocks; the status goes out with the first block, so that an upstream
     * that breaks off before any byte of its body still gives the client a 502 error.
     *
     * @param scanner picks the usage out of a JSON answer on the way; null for other answers
     */
    private static void relayAsItArrives(HttpExchange http, ExchangeState exchange, InputStream body, long declared,
            JsonUsageScanner scanner, UsageAccounting accounting, Runnable recordUsage) throws IOException {
        byte[] block = new byte[BLOCK];
        int n = declared == 0 ? -1 : readFromUpstream(exchange, body, block, 0, block.length);
        if (n < 0) {
            recordUsage.run();
            http.sendResponseHeaders(exchange.status(), -1);
            return;
        }
        http.sendResponseHeaders(exchange.status(), Math.max(declared, 0));
        passOnRest(http, body, block, n, scanner, accounting, recordUsage);
    }

    /**
     * Passes on {@code held} and the rest of the answer, always holding back the last block read: only the
     * upstream's end shows which block is the last, and the usage record is made before that block goes out.
     */
    private static void passOnRest(HttpExchange http, InputStream body, byte[] held, int heldLength,
            JsonUsageScanner scanner, UsageAccounting accounting, Runnable recordUsage) throws IOException {
        if (scanner != null) {
            scanner.feed(held, 0, heldLength);
        }
        byte[] next = new byte[BLOCK];
        while (true) {
            int n;
            try {
                n = body.read(next);
            } catch (IOException e) {
                throw new UpstreamBrokeOff(e);
            }
            if (n < 0) {
                break;
            }
            if (scanner != null) {
                scanner.feed(next, 0, n);
            }
            writeToClient(http, held, heldLength);
            byte[] written = held;
            held = next;
            heldLength = n;
            next = written;
        }
        if (scanner != null) {
            accounting.scanned(scanner);
        }
        recordUsage.run();
        writeToClient(http, held, heldLength);
    }

    /** Reads the upstream's answer before its status went out: a failure becomes a 502 error for the client. */
    private static int readFromUpstream(ExchangeState exchange, InputStream body, byte[] buffer, int offset, int length)
            throws ProxyException {
        try {
            return body.read(buffer, offset, length);
        } catch (IOException e) {
            LOG.warn("request {}: reading the answer of {} failed: {}", exchange.requestId(), exchange.endpointName(),
                    e.toString());
            throw ProxyException.of(502, "EndpointFailed", "The request could not be served: endpoint '"
                    + exchange.endpointName() + "' broke off its answer.");
        }
    }

    /** The answer's Content-Length, or -1 when it has none. */
    private static long declaredLength(ExchangeState exchange) {
        String length = exchange.responseHeader("content-length");
        return length == null ? -1 : ProxyHandler.parseLength(length);
    }

    private static void writeToClient(HttpExchange http, byte[] bytes, int length) throws ClientGoneException {
        try {
            http.getResponseBody().write(bytes, 0, length);
        } catch (IOException e) {
            throw new ClientGoneException("client went away", e);
        }
    }
}
