package io.powerproxy.streaming;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Objects;

/**
 * Copies a server-sent event stream from the upstream to the client event by event, byte for byte,
 * letting a listener see, and drop, each one, and flushing as soon as the events that have arrived are written.
 *
 * <p>Events end at a blank line; lines may end with LF, CRLF or CR, mixed freely, and an event may be
 * split across reads at any byte. Bytes after the last blank line are delivered as a final event at the
 * end of the stream. One buffer, grown only for events larger than it, serves the whole stream.
 *
 * <p>Every event goes out as soon as it is complete: the client is flushed after the events of each read from
 * the upstream. When the upstream's events arrive one by one (the usual case) that is one flush per event; when
 * several arrive in one read (a busy upstream or proxy), they share one write to the client instead of taking
 * one system call each, which delays none of them.
 *
 * <p>The two sides fail differently so that the caller can react differently: an {@link IOException}
 * from reading the upstream is thrown as it is, one from writing or flushing to the client is wrapped in a
 * {@link ClientGoneException}. Neither stream is closed here; the caller owns both.
 */
public final class SseCopier {

    /** Bytes read from the upstream at a time; Azure's chunks are 0.3 to 1 KiB, content filter results included. */
    static final int READ_SIZE = 2048;

    private final InputStream upstream;
    private final OutputStream client;
    private final SseListener listener;
    private byte[] buffer = new byte[2 * READ_SIZE];
    private int start;
    private int scan;
    private int end;
    private boolean atLineStart = true;
    private boolean afterCr;
    private long forwarded;
    private boolean unflushed;

    private SseCopier(InputStream upstream, OutputStream client, SseListener listener) {
        this.upstream = upstream;
        this.client = client;
        this.listener = listener;
    }

    /**
     * Copies {@code upstream} to {@code client} until the upstream ends.
     *
     * @param upstream the upstream response body, read in blocks of 2 KiB
     * @param client where forwarded events are written; flushed after the events of each read
     * @param listener called once per event, before it is written; returns whether to forward it
     * @return the number of bytes forwarded to the client
     * @throws ClientGoneException when writing or flushing to the client fails
     * @throws IOException when reading the upstream fails, unchanged
     */
    public static long copy(InputStream upstream, OutputStream client, SseListener listener) throws IOException {
        Objects.requireNonNull(upstream, "upstream");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(listener, "listener");
        return new SseCopier(upstream, client, listener).run();
    }

    private long run() throws IOException {
        while (true) {
            makeRoom();
            int n = upstream.read(buffer, end, READ_SIZE);
            if (n < 0) {
                break;
            }
            end += n;
            deliverCompleteEvents(false);
            flushClient();
        }
        deliverCompleteEvents(true);
        flushClient();
        return forwarded;
    }

    private void makeRoom() {
        if (start == end) {
            start = scan = end = 0;
        }
        if (buffer.length - end >= READ_SIZE) {
            return;
        }
        if (start > 0) {
            System.arraycopy(buffer, start, buffer, 0, end - start);
            scan -= start;
            end -= start;
            start = 0;
        }
        if (buffer.length - end < READ_SIZE) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, end + READ_SIZE));
        }
    }

    /** Scans the bytes not examined yet and hands on every event that ends among them. */
    private void deliverCompleteEvents(boolean endOfStream) throws IOException {
        while (scan < end) {
            byte b = buffer[scan];
            if (afterCr) {
                afterCr = false;
                if (b == '\n') {
                    scan++;
                    continue;
                }
            }
            if (b != '\n' && b != '\r') {
                atLineStart = false;
                scan++;
            } else if (!atLineStart) {
                atLineStart = true;
                afterCr = b == '\r';
                scan++;
            } else {
                int eventEnd;
                if (b == '\n') {
                    eventEnd = scan + 1;
                } else if (scan + 1 < end) {
                    eventEnd = buffer[scan + 1] == '\n' ? scan + 2 : scan + 1;
                } else if (endOfStream) {
                    eventEnd = scan + 1;
                } else {
                    // A CR that ends a read may be the first half of a CRLF: wait for the next byte, so
                    // that how the upstream's bytes were split never changes where an event ends.
                    return;
                }
                deliver(start, eventEnd);
                start = scan = eventEnd;
            }
        }
        if (endOfStream && start < end) {
            deliver(start, end);
            start = end;
        }
    }

    private void deliver(int from, int to) throws IOException {
        int length = to - from;
        SseEvent event = SseEvent.view(buffer, from, length);
        boolean forward;
        try {
            forward = listener.onEvent(event);
        } finally {
            event.release();
        }
        if (!forward) {
            return;
        }
        try {
            client.write(buffer, from, length);
        } catch (IOException e) {
            throw new ClientGoneException("client went away during the stream", e);
        }
        unflushed = true;
        forwarded += length;
    }

    private void flushClient() throws ClientGoneException {
        if (!unflushed) {
            return;
        }
        try {
            client.flush();
        } catch (IOException e) {
            throw new ClientGoneException("client went away during the stream", e);
        }
        unflushed = false;
    }
}
