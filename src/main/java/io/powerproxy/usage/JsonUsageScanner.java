package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.json.Json;
import io.powerproxy.usage.UsageRecord.Operation;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Picks the top-level {@code model} and {@code usage} out of a JSON answer that passes through in pieces, in a fixed
 * amount of memory, so that an answer too large to hold is still counted.
 *
 * <p>The scan follows only what it needs: strings (with their escapes), the nesting of objects and arrays, and the
 * keys of the top-level object. It keeps the raw bytes of the {@code model} and {@code usage} values, each up to
 * {@link #MAX_VALUE_BYTES}, and notes whether {@code error}, {@code choices} or {@code data} occur; a huge string
 * anywhere else (an image in base64, thousands of embeddings) costs nothing. Jackson's non-blocking parser would
 * have to hold every string whole (and refuses strings over 20 MB), so it is not used here. A body that is not a
 * JSON object, or is cut off, is counted as the buffered path counts one it cannot parse: zero.
 */
public final class JsonUsageScanner {

    /** The most bytes kept of the {@code model} or {@code usage} value; Azure's usage object is about 500 bytes. */
    static final int MAX_VALUE_BYTES = 64 * 1024;

    private static final int MAX_KEY_BYTES = 16;

    private enum Key { MODEL, USAGE, ERROR, CHOICES, DATA, OTHER }

    private int depth;
    private boolean inString;
    private boolean escaped;
    private boolean notAnObject;
    private boolean expectingKey;
    private boolean readingKey;
    private final byte[] key = new byte[MAX_KEY_BYTES];
    private int keyLength;
    private Key lastKey = Key.OTHER;
    private Key capturing;
    private byte[] capture = new byte[256];
    private int captureLength;
    private boolean captureOverflow;
    private byte[] model;
    private byte[] usage;
    private boolean sawError;
    private boolean sawChoices;
    private boolean sawData;

    /** Scans the next piece of the answer. */
    public void feed(byte[] bytes, int offset, int length) {
        int end = offset + length;
        for (int i = offset; i < end && !notAnObject; i++) {
            byte b = bytes[i];
            if (inString) {
                string(b);
            } else {
                structure(b);
            }
        }
    }

    private void string(byte b) {
        if (escaped) {
            escaped = false;
        } else if (b == '\\') {
            escaped = true;
        } else if (b == '"') {
            inString = false;
            if (readingKey) {
                readingKey = false;
                lastKey = keyOf();
                return;
            }
        }
        if (readingKey) {
            if (keyLength < MAX_KEY_BYTES) {
                key[keyLength] = b;
            }
            keyLength++;
        } else if (capturing != null) {
            keep(b);
        }
    }

    private void structure(byte b) {
        if (capturing != null && depth == 1 && (b == ',' || b == '}')) {
            endCapture();
        }
        switch (b) {
            case '"' -> {
                inString = true;
                if (depth == 1 && expectingKey) {
                    expectingKey = false;
                    readingKey = true;
                    keyLength = 0;
                    return;
                }
            }
            case '{', '[' -> {
                if (depth == 0 && b == '[') {
                    notAnObject = true;
                    return;
                }
                depth++;
                if (depth == 1) {
                    expectingKey = true;
                    return;
                }
            }
            case '}', ']' -> depth--;
            case ',' -> {
                if (depth == 1) {
                    expectingKey = true;
                    return;
                }
            }
            case ':' -> {
                if (depth == 1) {
                    startValue();
                    return;
                }
            }
            case ' ', '\t', '\r', '\n' -> {
                if (capturing == null || captureLength == 0) {
                    return;
                }
            }
            default -> {
                if (depth == 0) {
                    notAnObject = true;
                    return;
                }
            }
        }
        if (capturing != null) {
            keep(b);
        }
    }

    private void startValue() {
        switch (lastKey) {
            case MODEL, USAGE -> {
                capturing = lastKey;
                captureLength = 0;
                captureOverflow = false;
            }
            case ERROR -> sawError = true;
            case CHOICES -> sawChoices = true;
            case DATA -> sawData = true;
            default -> {
            }
        }
        lastKey = Key.OTHER;
    }

    private void keep(byte b) {
        if (captureLength == capture.length) {
            if (capture.length >= MAX_VALUE_BYTES) {
                captureOverflow = true;
                return;
            }
            capture = Arrays.copyOf(capture, Math.min(capture.length * 2, MAX_VALUE_BYTES));
        }
        capture[captureLength++] = b;
    }

    private void endCapture() {
        byte[] value = captureOverflow ? null : Arrays.copyOf(capture, captureLength);
        if (capturing == Key.MODEL) {
            model = value;
        } else {
            usage = value;
        }
        capturing = null;
    }

    private Key keyOf() {
        if (keyLength > MAX_KEY_BYTES) {
            return Key.OTHER;
        }
        return switch (new String(key, 0, keyLength, StandardCharsets.UTF_8)) {
            case "model" -> Key.MODEL;
            case "usage" -> Key.USAGE;
            case "error" -> Key.ERROR;
            case "choices" -> Key.CHOICES;
            case "data" -> Key.DATA;
            default -> Key.OTHER;
        };
    }

    /**
     * Counts the answer scanned so far, as {@link ResponseUsage#of(byte[], JsonNode, Operation, String)} counts a
     * buffered one, except that the completion of a chat or completions answer without {@code usage} is not
     * estimated (its content was passed on, not kept): it counts 0.
     *
     * @param request the request's JSON, or null
     * @param operation the kind of call
     * @param modelHint the model to report when the answer names none; may be null
     */
    Counts counts(JsonNode request, Operation operation, String modelHint) {
        if (notAnObject || depth != 0 || inString) {
            return ResponseUsage.none(modelHint);
        }
        ObjectNode answer = Json.MAPPER.createObjectNode();
        JsonNode modelValue = parse(model);
        if (modelValue != null) {
            answer.set("model", modelValue);
        }
        JsonNode usageValue = parse(usage);
        if (usageValue != null) {
            answer.set("usage", usageValue);
        }
        if (sawError) {
            answer.putObject("error");
        }
        if (sawChoices) {
            answer.putArray("choices");
        }
        if (sawData) {
            answer.putArray("data");
        }
        return ResponseUsage.of(answer, request, operation, modelHint);
    }

    private static JsonNode parse(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            return Json.MAPPER.readTree(value);
        } catch (Exception e) {
            // A malformed value counts as a missing one.
            return null;
        }
    }
}
