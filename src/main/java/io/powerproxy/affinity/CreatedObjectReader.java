package io.powerproxy.affinity;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.json.Json;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * The body of an answer that creates an object, passed through unchanged while the id of the new object is picked
 * out of it as it is read: the top-level string field of a JSON object answer ({@code id}, or {@code thread_id}), or
 * in an event stream that field of an early event's data ({@code response.id} of a Responses stream's
 * {@code response.created}). Since the relays read before they write, the id is handed on before the client has it.
 *
 * <p>The JSON scan follows only strings and nesting and keeps at most {@link ObjectCall#MAX_ID_LENGTH} bytes of the
 * value; the stream scan parses at most {@link #MAX_EVENTS} data lines of up to {@link #MAX_LINE_BYTES} each. Once the
 * id is found, or cannot be found any more, bytes pass with no further work.
 */
final class CreatedObjectReader extends FilterInputStream {

    static final int MAX_EVENTS = 8;
    static final int MAX_LINE_BYTES = 64 * 1024;
    private static final int MAX_KEY_BYTES = 16;

    private final byte[] wanted;
    private final String wantedKey;
    private final boolean stream;
    private final Consumer<String> found;
    private boolean done;

    // JSON scan.
    private int depth;
    private boolean inString;
    private boolean escaped;
    private boolean expectingKey;
    private boolean readingKey;
    private boolean keyMatches;
    private boolean capturing;
    private final byte[] key = new byte[MAX_KEY_BYTES];
    private int keyLength;
    private final byte[] value = new byte[ObjectCall.MAX_ID_LENGTH + 1];
    private int valueLength;

    // Event-stream scan.
    private byte[] line;
    private int lineLength;
    private int events;

    /**
     * @param key the top-level field that holds the new object's id
     * @param stream whether the body is an event stream (else a JSON object)
     * @param found gets the id once, when it is a valid one
     */
    CreatedObjectReader(InputStream body, String key, boolean stream, Consumer<String> found) {
        super(body);
        this.wantedKey = key;
        this.wanted = key.getBytes(StandardCharsets.US_ASCII);
        this.stream = stream;
        this.found = found;
        if (stream) {
            line = new byte[1024];
        }
    }

    @Override
    public int read() throws IOException {
        int b = super.read();
        if (b >= 0 && !done) {
            scan(new byte[] {(byte) b}, 0, 1);
        }
        return b;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        int n = super.read(buffer, offset, length);
        if (n > 0 && !done) {
            scan(buffer, offset, n);
        }
        return n;
    }

    private void scan(byte[] bytes, int offset, int length) {
        int end = offset + length;
        for (int i = offset; i < end && !done; i++) {
            if (stream) {
                streamByte(bytes[i]);
            } else {
                jsonByte(bytes[i]);
            }
        }
    }

    private void jsonByte(byte b) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (b == '\\') {
                escaped = true;
                // Ids have no escapes: one that does is not taken.
                capturing = false;
            } else if (b == '"') {
                inString = false;
                if (readingKey) {
                    readingKey = false;
                    keyMatches = keyLength == wanted.length && java.util.Arrays.equals(key, 0, keyLength, wanted, 0,
                            wanted.length);
                } else if (capturing) {
                    capturing = false;
                    finish(valueLength <= ObjectCall.MAX_ID_LENGTH
                            ? new String(value, 0, valueLength, StandardCharsets.US_ASCII) : null);
                }
            } else if (readingKey) {
                if (keyLength < MAX_KEY_BYTES) {
                    key[keyLength] = b;
                }
                keyLength++;
            } else if (capturing && valueLength < value.length) {
                value[valueLength++] = b;
            }
            return;
        }
        switch (b) {
            case '"' -> {
                inString = true;
                if (depth == 1 && expectingKey) {
                    expectingKey = false;
                    readingKey = true;
                    keyLength = 0;
                } else if (depth == 1 && keyMatches) {
                    capturing = true;
                    valueLength = 0;
                }
            }
            case '{', '[' -> {
                if (depth == 0 && b == '[') {
                    finish(null);
                    return;
                }
                depth++;
                expectingKey = depth == 1;
            }
            case '}', ']' -> {
                depth--;
                if (depth <= 0) {
                    finish(null);
                }
            }
            case ',' -> {
                if (depth == 1) {
                    expectingKey = true;
                    keyMatches = false;
                }
            }
            default -> {
            }
        }
    }

    private void streamByte(byte b) {
        if (b != '\n') {
            if (lineLength == line.length) {
                if (line.length >= MAX_LINE_BYTES) {
                    finish(null);
                    return;
                }
                line = java.util.Arrays.copyOf(line, Math.min(line.length * 2, MAX_LINE_BYTES));
            }
            line[lineLength++] = b;
            return;
        }
        int length = lineLength > 0 && line[lineLength - 1] == '\r' ? lineLength - 1 : lineLength;
        lineLength = 0;
        if (length < 5 || line[0] != 'd' || line[1] != 'a' || line[2] != 't' || line[3] != 'a' || line[4] != ':') {
            return;
        }
        String id = idInEvent(line, 5, length - 5);
        if (id != null) {
            finish(id);
        } else if (++events >= MAX_EVENTS) {
            finish(null);
        }
    }

    private String idInEvent(byte[] data, int offset, int length) {
        JsonNode event;
        try {
            event = Json.MAPPER.readTree(data, offset, length);
        } catch (IOException e) {
            // [DONE] or a malformed event: no id here.
            return null;
        }
        if (event == null || !event.isObject()) {
            return null;
        }
        JsonNode id = event.path("response").path("id");
        if (!id.isTextual()) {
            id = event.path(wantedKey);
        }
        return id.isTextual() ? id.textValue() : null;
    }

    private void finish(String id) {
        done = true;
        line = null;
        if (id != null && ObjectCall.validId(id)) {
            found.accept(id);
        }
    }
}
