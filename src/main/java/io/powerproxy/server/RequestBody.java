package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ProxyException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.Locale;

/**
 * One request's body, read whole into memory reserved in {@link BodyMemory} (so that it can be sent again to the
 * next target when one fails), and that memory given back when the request no longer needs it.
 */
final class RequestBody {

    private final HttpExchange http;
    private final BodyMemory memory;
    private final int maxBytes;
    private BodyMemory.Reservation reservation;
    private boolean readToEnd;

    /** @param maxBytes bodies above this size are refused with 413 */
    RequestBody(HttpExchange http, BodyMemory memory, int maxBytes) {
        this.http = http;
        this.memory = memory;
        this.maxBytes = maxBytes;
    }

    /**
     * Reads the whole body, reserving its bytes: a declared length at once, before any byte is read, and a chunked
     * body as it grows.
     *
     * @throws ProxyException 413 {@code RequestTooLarge} above the size limit; 503 {@code ServerBusy} when the
     *     reservation would cross the memory bound
     */
    byte[] read() throws IOException {
        String declared = http.getRequestHeaders().getFirst("Content-Length");
        long length = declared == null ? -1 : contentLength(declared);
        if (length > maxBytes) {
            throw tooLarge();
        }
        String transferEncoding = http.getRequestHeaders().getFirst("Transfer-Encoding");
        if (transferEncoding != null && transferEncoding.toLowerCase(Locale.ROOT).contains("chunked")) {
            // The length is unknown until the last chunk (the server refuses a request with both headers).
            length = -1;
        } else if (length < 0) {
            // Neither a length nor chunks: HTTP/1.1 says there is no body (GET, DELETE, most probes).
            http.getRequestBody().close();
            readToEnd = true;
            return new byte[0];
        }
        reservation = memory.newReservation();
        // Not closed on a refusal: closing would drain a little of the rest, and the refusal reads what is left
        // (see LingeringClose). Closing the exchange closes it.
        InputStream in = http.getRequestBody();
        if (length >= 0) {
            reservation.add(length);
            byte[] body = new byte[(int) length];
            int read = in.readNBytes(body, 0, body.length);
            readToEnd = true;
            return read == body.length ? body : Arrays.copyOf(body, read);
        }
        byte[] body = new byte[8 * 1024];
        reservation.add(body.length);
        int size = 0;
        while (true) {
            if (size == body.length) {
                if (size > maxBytes) {
                    throw tooLarge();
                }
                int grown = (int) Math.min((long) size * 2, maxBytes + 1L);
                reservation.add(grown - size);
                body = Arrays.copyOf(body, grown);
            }
            int n = in.read(body, size, body.length - size);
            if (n < 0) {
                readToEnd = true;
                return Arrays.copyOf(body, size);
            }
            size += n;
        }
    }

    /** Whether the client may still be sending a body that was not read to its end. */
    boolean mayStillBeSending() {
        if (readToEnd) {
            return false;
        }
        String transferEncoding = http.getRequestHeaders().getFirst("Transfer-Encoding");
        String length = http.getRequestHeaders().getFirst("Content-Length");
        return transferEncoding != null || (length != null && contentLength(length) != 0);
    }

    /** Gives back the memory the body holds; the bytes read stay usable. A second call gives back nothing. */
    void release() {
        if (reservation != null) {
            reservation.release();
        }
    }

    /** The value of a Content-Length header, or -1 when it is not a number. */
    static long contentLength(String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private ProxyException tooLarge() {
        return ProxyException.of(413, "RequestTooLarge",
                "The request body is larger than " + (maxBytes >> 20) + " MiB, the most this proxy accepts.");
    }
}
