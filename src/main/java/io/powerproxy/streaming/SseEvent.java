package io.powerproxy.streaming;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One server-sent event exactly as the upstream sent it: its lines (data, comments, {@code event:},
 * {@code id:}, ...) and the blank line that ends it, with the original line endings.
 *
 * <p>An event handed to an {@link SseListener} by {@link SseCopier} is a view into the copier's reusable
 * buffer ({@code length()} bytes from an offset the copier owns), so that copying a stream allocates no
 * array per event. Such a view is valid only while the listener runs; any use after that throws
 * {@link IllegalStateException} rather than showing bytes of a later event. The string returned by
 * {@link #data()} and the array returned by {@link #raw()} are copies and can be kept. Events made with
 * {@link #of(byte[])} own their bytes and stay valid.
 *
 * <p>Not thread-safe: an event belongs to the thread that copies its stream.
 */
public final class SseEvent {

    private final byte[] buffer;
    private final int offset;
    private final int length;
    private final boolean owned;
    private boolean released;
    private boolean dataParsed;
    private String data;

    private SseEvent(byte[] buffer, int offset, int length, boolean owned) {
        this.buffer = buffer;
        this.offset = offset;
        this.length = length;
        this.owned = owned;
    }

    /**
     * Returns an event that owns a copy of the given bytes, for tests and for code that builds streams.
     *
     * @param raw the event's bytes, normally ending with a blank line
     * @return an event that stays valid
     */
    public static SseEvent of(byte[] raw) {
        return new SseEvent(raw.clone(), 0, raw.length, true);
    }

    static SseEvent view(byte[] buffer, int offset, int length) {
        return new SseEvent(buffer, offset, length, false);
    }

    /** Ends the validity of a view; called by the copier once the listener has returned. */
    void release() {
        if (!owned) {
            released = true;
        }
    }

    /** Returns the number of raw bytes, including the terminating blank line. */
    public int length() {
        checkValid();
        return length;
    }

    /** Returns a copy of the event's raw bytes, including the terminating blank line. */
    public byte[] raw() {
        checkValid();
        return Arrays.copyOfRange(buffer, offset, offset + length);
    }

    /** Writes the event's raw bytes to {@code out} without copying them. */
    public void writeTo(OutputStream out) throws IOException {
        checkValid();
        out.write(buffer, offset, length);
    }

    /**
     * Returns the values of the event's {@code data} fields joined with {@code "\n"}, as an SSE client
     * would see them: one space after the colon is removed, comments and other fields are ignored.
     * The bytes are decoded as UTF-8 on the first call only.
     *
     * @return the data, or null when the event has no data field
     */
    public String data() {
        checkValid();
        if (!dataParsed) {
            data = parseData();
            dataParsed = true;
        }
        return data;
    }

    /** Returns whether the event's data is {@code [DONE]}, the end marker of OpenAI streams. */
    public boolean isDone() {
        return "[DONE]".equals(data());
    }

    @Override
    public String toString() {
        return released ? "SseEvent[released]" : "SseEvent[" + new String(buffer, offset, length, StandardCharsets.UTF_8) + "]";
    }

    private void checkValid() {
        if (released) {
            throw new IllegalStateException("SseEvent used after SseListener.onEvent returned; keep data() or raw() instead");
        }
    }

    private String parseData() {
        int end = offset + length;
        int firstStart = -1;
        int firstEnd = -1;
        StringBuilder joined = null;
        int i = offset;
        while (i < end) {
            int lineStart = i;
            while (i < end && buffer[i] != '\n' && buffer[i] != '\r') {
                i++;
            }
            int lineEnd = i;
            if (i < end && buffer[i] == '\r' && i + 1 < end && buffer[i + 1] == '\n') {
                i += 2;
            } else if (i < end) {
                i++;
            }
            int valueStart = dataValueStart(lineStart, lineEnd);
            if (valueStart < 0) {
                continue;
            }
            if (firstStart < 0) {
                firstStart = valueStart;
                firstEnd = lineEnd;
            } else {
                if (joined == null) {
                    joined = new StringBuilder(decode(firstStart, firstEnd));
                }
                joined.append('\n').append(decode(valueStart, lineEnd));
            }
        }
        if (firstStart < 0) {
            return null;
        }
        return joined != null ? joined.toString() : decode(firstStart, firstEnd);
    }

    /** Returns where the value of a {@code data} line starts, or -1 when the line is another field. */
    private int dataValueStart(int lineStart, int lineEnd) {
        int n = lineEnd - lineStart;
        if (n < 4 || buffer[lineStart] != 'd' || buffer[lineStart + 1] != 'a'
                || buffer[lineStart + 2] != 't' || buffer[lineStart + 3] != 'a') {
            return -1;
        }
        if (n == 4) {
            return lineEnd;
        }
        if (buffer[lineStart + 4] != ':') {
            return -1;
        }
        int value = lineStart + 5;
        return value < lineEnd && buffer[value] == ' ' ? value + 1 : value;
    }

    private String decode(int from, int to) {
        return new String(buffer, from, to - from, StandardCharsets.UTF_8);
    }
}
