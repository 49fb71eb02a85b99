package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.usage.JsonUsageScanner;
import io.powerproxy.usage.UsageAccounting;
import java.io.IOException;
import java.io.InputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passes an answer on as it arrives, block by block, in memory of two blocks whatever its size; a JSON answer's
 * usage is picked out on the way. The status goes out with the first block, so that an upstream that breaks off
 * before any byte of its body still gives the client a 502 error, and the last block is held back until the
 * upstream's end shows it is the last, so that the usage record is made before it goes out.
 */
final class PassThroughRelay {

    /** Bytes read from the upstream at a time. */
    static final int BLOCK = 16 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(PassThroughRelay.class);

    private PassThroughRelay() {
    }

    /**
     * Passes the whole answer on; the status and response headers are set on the exchange but not sent yet.
     *
     * @param declared the answer's Content-Length, or -1
     * @param scanner picks the usage out of a JSON answer on the way; null for other answers
     */
    static void relay(HttpExchange http, ExchangeState exchange, InputStream body, long declared, JsonUsageScanner scanner,
            UsageAccounting accounting, Runnable recordUsage) throws IOException {
        byte[] block = new byte[BLOCK];
        int n = declared == 0 ? -1 : readBeforeStatus(exchange, body, block, 0, block.length);
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
    static void passOnRest(HttpExchange http, InputStream body, byte[] held, int heldLength, JsonUsageScanner scanner,
            UsageAccounting accounting, Runnable recordUsage) throws IOException {
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
    static int readBeforeStatus(ExchangeState exchange, InputStream body, byte[] buffer, int offset, int length) {
        try {
            return body.read(buffer, offset, length);
        } catch (IOException e) {
            LOG.warn("request {}: reading the answer of {} failed: {}", exchange.requestId(), exchange.endpointName(),
                    e.toString());
            throw ProxyException.of(502, "EndpointFailed", "The request could not be served: endpoint '"
                    + exchange.endpointName() + "' broke off its answer.");
        }
    }

    static void writeToClient(HttpExchange http, byte[] bytes, int length) throws ClientGoneException {
        try {
            http.getResponseBody().write(bytes, 0, length);
        } catch (IOException e) {
            throw new ClientGoneException("client went away", e);
        }
    }
}
