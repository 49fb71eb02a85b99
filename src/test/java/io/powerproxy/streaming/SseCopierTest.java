package io.powerproxy.streaming;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;

class SseCopierTest {

    private static final String LF_STREAM = """
            data: {"choices":[],"prompt_filter_results":[]}

            data: {"choices":[{"delta":{"content":"Hel"}}]}

            : keep-alive

            event: message
            id: 7
            data: {"choices":[{"delta":{"content":"lo ü€😀"}}]}

            data: [DONE]

            """;

    private static final String MIXED_STREAM =
            "data: one\r\n\r\n"
            + "data: two\n\n"
            + "data: three\r\r"
            + "data: four\r\n\n"
            + "data: five\n\r\n"
            + ": comment\rdata: six\r\n\r"
            + "data: seven\r\r\n"
            + "data: [DONE]\r\n\r\n";

    @Test
    void forwardsEveryByteAndFindsEachEventOfAnLfStream() throws IOException {
        Copy copy = copy(bytes(LF_STREAM), SseListener.FORWARD_ALL);

        assertArrayEquals(bytes(LF_STREAM), copy.output());
        assertEquals(5, copy.events().size());
        assertEquals("{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}", copy.events().get(1).data());
        assertNull(copy.events().get(2).data());
        assertEquals("{\"choices\":[{\"delta\":{\"content\":\"lo ü€😀\"}}]}", copy.events().get(3).data());
        assertTrue(copy.events().get(4).done());
        assertEquals(copy.output().length, copy.forwarded());
    }

    @Test
    void eventsOfCrlfCrAndMixedStreamsKeepTheirWholeTerminator() throws IOException {
        Copy copy = copy(bytes(MIXED_STREAM), SseListener.FORWARD_ALL);

        assertArrayEquals(bytes(MIXED_STREAM), copy.output());
        assertEquals(List.of(
                "data: one\r\n\r\n", "data: two\n\n", "data: three\r\r", "data: four\r\n\n", "data: five\n\r\n",
                ": comment\rdata: six\r\n\r", "data: seven\r\r\n", "data: [DONE]\r\n\r\n"), copy.raws());
        assertEquals(List.of("one", "two", "three", "four", "five", "six", "seven", "[DONE]"), copy.datas());
    }

    @Test
    void oneByteReadsGiveTheSameBytesAndEventsAsWholeReads() throws IOException {
        for (String stream : List.of(LF_STREAM, MIXED_STREAM, LF_STREAM.replace("\n", "\r\n"), LF_STREAM.replace("\n", "\r"))) {
            Copy whole = copy(bytes(stream), SseListener.FORWARD_ALL);
            Copy bytewise = copy(new SplitInputStream(bytes(stream), () -> 1), SseListener.FORWARD_ALL);

            assertArrayEquals(bytes(stream), bytewise.output());
            assertEquals(whole.raws(), bytewise.raws());
            assertEquals(whole.datas(), bytewise.datas());
            assertEquals(whole.events().size(), bytewise.flushes());
        }
    }

    @Test
    void readsSplitAtRandomPlacesGiveTheSameBytesAndEventsAsWholeReads() throws IOException {
        byte[] stream = bytes(MIXED_STREAM + LF_STREAM.replace("\n", "\r\n") + MIXED_STREAM);
        Copy whole = copy(stream, SseListener.FORWARD_ALL);
        Random random = new Random(42);
        for (int round = 0; round < 500; round++) {
            int max = 1 + random.nextInt(40);
            Copy split = copy(new SplitInputStream(stream, () -> 1 + random.nextInt(max)), SseListener.FORWARD_ALL);

            assertArrayEquals(stream, split.output());
            assertEquals(whole.raws(), split.raws());
        }
    }

    @Test
    void bytesAfterTheLastBlankLineAreDeliveredAsAFinalEvent() throws IOException {
        String stream = "data: a\n\ndata: b\ndata: c";
        Copy copy = copy(new SplitInputStream(bytes(stream), () -> 3), SseListener.FORWARD_ALL);

        assertArrayEquals(bytes(stream), copy.output());
        assertEquals(List.of("data: a\n\n", "data: b\ndata: c"), copy.raws());
        assertEquals("b\nc", copy.datas().get(1));
    }

    @Test
    void aStreamEndingInALoneCrEndsItsLastEventThere() throws IOException {
        Copy copy = copy(bytes("data: a\r\r"), SseListener.FORWARD_ALL);

        assertEquals(List.of("data: a\r\r"), copy.raws());
    }

    @Test
    void aDroppedEventNeverReachesTheClient() throws IOException {
        Copy copy = copy(bytes(LF_STREAM), event -> event.data() == null || !event.data().contains("prompt_filter"));

        assertEquals(LF_STREAM.substring(LF_STREAM.indexOf("data: {\"choices\":[{")), new String(copy.output(), UTF_8));
        assertEquals(1, copy.flushes(), "the events of one read share one flush");
        assertEquals(5, copy.events().size());
        assertEquals(copy.output().length, copy.forwarded());
    }

    @Test
    void anEmptyUpstreamForwardsNothing() throws IOException {
        Copy copy = copy(new byte[0], SseListener.FORWARD_ALL);

        assertEquals(0, copy.forwarded());
        assertEquals(0, copy.events().size());
        assertEquals(0, copy.flushes());
    }

    @Test
    void anEventLargerThanTheBufferIsDeliveredWhole() throws IOException {
        String big = "x".repeat(5 * SseCopier.READ_SIZE + 17);
        String stream = "data: small\n\ndata: " + big + "\n\ndata: [DONE]\n\n";
        Copy copy = copy(new SplitInputStream(bytes(stream), () -> 1000), SseListener.FORWARD_ALL);

        assertArrayEquals(bytes(stream), copy.output());
        assertEquals(List.of("small", big, "[DONE]"), copy.datas());
    }

    @Test
    void upstreamIsReadInBlocksOfAtMost2KiB() throws IOException {
        int[] largest = {0};
        InputStream upstream = new ByteArrayInputStream(bytes("data: " + "y".repeat(100_000) + "\n\n")) {
            @Override
            public synchronized int read(byte[] b, int off, int len) {
                largest[0] = Math.max(largest[0], len);
                return super.read(b, off, len);
            }
        };

        SseCopier.copy(upstream, OutputStream.nullOutputStream(), SseListener.FORWARD_ALL);

        assertEquals(2048, largest[0]);
    }

    @Test
    void aFailingClientWriteBecomesClientGoneException() {
        OutputStream client = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }
        };

        ClientGoneException e = assertThrows(ClientGoneException.class,
                () -> SseCopier.copy(new ByteArrayInputStream(bytes(LF_STREAM)), client, SseListener.FORWARD_ALL));
        assertEquals("Broken pipe", e.getCause().getMessage());
    }

    @Test
    void aFailingClientFlushBecomesClientGoneException() {
        OutputStream client = new ByteArrayOutputStream() {
            @Override
            public void flush() throws IOException {
                throw new IOException("stream is closed");
            }
        };

        assertThrows(ClientGoneException.class,
                () -> SseCopier.copy(new ByteArrayInputStream(bytes(LF_STREAM)), client, SseListener.FORWARD_ALL));
    }

    @Test
    void aFailingUpstreamReadIsThrownUnchanged() {
        IOException failure = new IOException("connection reset");
        InputStream upstream = new InputStream() {
            private int calls;

            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (calls++ > 0) {
                    throw failure;
                }
                byte[] first = bytes("data: a\n\n");
                System.arraycopy(first, 0, b, off, first.length);
                return first.length;
            }
        };
        CountingOutputStream client = new CountingOutputStream();

        IOException thrown = assertThrows(IOException.class, () -> SseCopier.copy(upstream, client, SseListener.FORWARD_ALL));
        assertSame(failure, thrown);
        assertFalse(thrown instanceof ClientGoneException);
        assertEquals("data: a\n\n", client.toString(UTF_8));
    }

    @Test
    void theClientIsFlushedOncePerForwardedEventAfterItsLastByte() throws IOException {
        CountingOutputStream client = new CountingOutputStream();
        List<Integer> sizeAtFlush = client.sizesAtFlush;

        SseCopier.copy(new SplitInputStream(bytes(MIXED_STREAM), () -> 5), client, event -> !"four".equals(event.data()));

        assertEquals(7, client.flushes);
        assertEquals(MIXED_STREAM.replace("data: four\r\n\n", "").length(), sizeAtFlush.get(6));
        assertEquals("data: one\r\n\r\n".length(), sizeAtFlush.get(0));
    }

    @Test
    void eventsThatArriveTogetherShareOneFlushAfterTheLastOfThem() throws IOException {
        // Reads of 13 bytes: "data: one\n\n" (11) and "da" first, then the rest of two, three and four together.
        String stream = "data: one\n\ndata: two\n\ndata: three\n\ndata: four\n\n";
        CountingOutputStream client = new CountingOutputStream();
        int[] sizes = {13, 100};
        int[] read = {0};

        SseCopier.copy(new SplitInputStream(bytes(stream), () -> sizes[Math.min(read[0]++, 1)]), client,
                SseListener.FORWARD_ALL);

        assertEquals(List.of("data: one\n\n".length(), stream.length()), client.sizesAtFlush);
    }

    @Test
    void anEventUsedAfterItsListenerReturnedFailsLoudly() throws IOException {
        List<SseEvent> kept = new ArrayList<>();

        SseCopier.copy(new ByteArrayInputStream(bytes(LF_STREAM)), OutputStream.nullOutputStream(), kept::add);

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> kept.get(0).data());
        assertTrue(e.getMessage().contains("keep data() or raw()"));
    }

    @Test
    void anExceptionFromTheListenerEndsTheCopyUnchanged() {
        IllegalArgumentException failure = new IllegalArgumentException("bad chunk");

        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, () -> SseCopier.copy(
                new ByteArrayInputStream(bytes(LF_STREAM)), OutputStream.nullOutputStream(), event -> {
                    throw failure;
                }));
        assertSame(failure, thrown);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(UTF_8);
    }

    private static Copy copy(byte[] upstream, SseListener listener) throws IOException {
        return copy(new ByteArrayInputStream(upstream), listener);
    }

    private static Copy copy(InputStream upstream, SseListener listener) throws IOException {
        List<Seen> events = new ArrayList<>();
        CountingOutputStream client = new CountingOutputStream();
        long forwarded = SseCopier.copy(upstream, client, event -> {
            events.add(new Seen(event.raw(), event.data(), event.isDone()));
            return listener.onEvent(event);
        });
        return new Copy(client.toByteArray(), events, client.flushes, forwarded);
    }

    private record Seen(byte[] raw, String data, boolean done) {
    }

    private record Copy(byte[] output, List<Seen> events, int flushes, long forwarded) {

        List<String> raws() {
            return events.stream().map(e -> new String(e.raw(), UTF_8)).toList();
        }

        List<String> datas() {
            return events.stream().map(Seen::data).toList();
        }
    }

    /** Hands out its bytes in reads of the sizes a supplier chooses, as a network would. */
    private static final class SplitInputStream extends InputStream {

        private final byte[] bytes;
        private final IntSupplier nextSize;
        private int position;

        SplitInputStream(byte[] bytes, IntSupplier nextSize) {
            this.bytes = bytes;
            this.nextSize = nextSize;
        }

        @Override
        public int read() {
            return position < bytes.length ? bytes[position++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (position == bytes.length) {
                return -1;
            }
            int n = Math.min(Math.min(len, nextSize.getAsInt()), bytes.length - position);
            System.arraycopy(bytes, position, b, off, n);
            position += n;
            return n;
        }
    }

    /** Records what was written and where each flush happened. */
    private static final class CountingOutputStream extends ByteArrayOutputStream {

        final List<Integer> sizesAtFlush = new ArrayList<>();
        int flushes;

        @Override
        public void flush() {
            flushes++;
            sizesAtFlush.add(size());
        }
    }
}
