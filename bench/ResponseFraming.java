import java.io.IOException;
import java.util.Locale;

/**
 * Where a bench load client is in the HTTP/1.1 response on one connection: status line, headers, then a body framed by
 * Content-Length, by chunks, or by the end of the connection. The clients (bench/LoadClient.java,
 * bench/StreamClient.java) feed it the bytes of the head and of the chunk framing one by one and handle the body bytes
 * themselves; their connection objects extend it.
 */
class ResponseFraming {

    /** The part of the response the next byte belongs to. */
    enum State { STATUS, HEADERS, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, LENGTH, UNTIL_CLOSE }

    private final StringBuilder line = new StringBuilder(128);
    int status;
    /** Body bytes still to come: of the Content-Length body or of the current chunk; -1 when not known. */
    long remaining;
    boolean chunked;
    /** Whether the server said {@code Connection: close}. */
    boolean close;
    State state;

    /** Gets ready for the next response on the connection. */
    void resetFraming() {
        status = 0;
        remaining = -1;
        chunked = false;
        close = false;
        state = State.STATUS;
        line.setLength(0);
    }

    /**
     * Takes one byte of the head or the chunk framing (states STATUS, HEADERS, CHUNK_SIZE, CHUNK_END, TRAILERS);
     * returns true when it completed the response.
     */
    boolean lineByte(byte x) throws IOException {
        if (x != '\n') {
            if (x != '\r') {
                line.append((char) x);
            }
            return false;
        }
        String text = line.toString();
        line.setLength(0);
        return onLine(text);
    }

    private boolean onLine(String text) throws IOException {
        switch (state) {
            case STATUS -> {
                if (!text.startsWith("HTTP/1.") || text.length() < 12) {
                    throw new IOException("bad status line: " + text);
                }
                status = Integer.parseInt(text.substring(9, 12));
                state = State.HEADERS;
            }
            case HEADERS -> {
                if (!text.isEmpty()) {
                    int colon = text.indexOf(':');
                    if (colon > 0) {
                        String name = text.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                        String value = text.substring(colon + 1).trim();
                        switch (name) {
                            case "content-length" -> remaining = Long.parseLong(value);
                            case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
                            case "connection" -> close = value.equalsIgnoreCase("close");
                            default -> { }
                        }
                    }
                    return false;
                }
                if (chunked) {
                    state = State.CHUNK_SIZE;
                } else if (remaining > 0) {
                    state = State.LENGTH;
                } else if (remaining == 0) {
                    return true;
                } else {
                    state = State.UNTIL_CLOSE;
                }
            }
            case CHUNK_SIZE -> {
                int semi = text.indexOf(';');
                long size = Long.parseLong((semi < 0 ? text : text.substring(0, semi)).trim(), 16);
                if (size == 0) {
                    state = State.TRAILERS;
                } else {
                    remaining = size;
                    state = State.CHUNK_DATA;
                }
            }
            case CHUNK_END -> {
                if (!text.isEmpty()) {
                    throw new IOException("chunk not followed by CRLF");
                }
                state = State.CHUNK_SIZE;
            }
            case TRAILERS -> {
                return text.isEmpty();
            }
            default -> throw new IllegalStateException(state.name());
        }
        return false;
    }
}
