package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.LargeJsonUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.usage.UsageRecord;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * The usage record reaches the plugins before the answer's last byte leaves the proxy, so that a sink that writes
 * it at once has it on disk before the client has the whole answer: a plugin that blocks in {@code onUsage} holds
 * back the end of the answer.
 */
class UsageBeforeLastByteTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final byte[] CHUNKED_END = "0\r\n\r\n".getBytes(US_ASCII);

    private final BlockingUsage plugin = new BlockingUsage();

    @Test
    void aHeldJsonAnswerGoesOutOnlyAfterOnUsageReturned() throws Exception {
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(10_000, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(plugin))) {
            assertTheEndWaitsForOnUsage(proxy, "{}", "");
        }
    }

    @Test
    void theMocksAnswerGoesOutOnlyAfterOnUsageReturned() throws Exception {
        String mock = Configs.withAoai("""
                mock_response:
                  json: {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}}
                """);
        try (ProxyHarness proxy = ProxyHarness.start(mock, null, List.of(plugin))) {
            assertTheEndWaitsForOnUsage(proxy, "{}", "");
        }
    }

    @Test
    void theLastBlockOfALargeJsonAnswerGoesOutOnlyAfterOnUsageReturned() throws Exception {
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(20_000_000, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(plugin))) {
            UsageRecord record = assertTheEndWaitsForOnUsage(proxy, "{}", "");
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, record.promptTokens());
        }
    }

    @Test
    void theDoneEventOfAStreamGoesOutOnlyAfterOnUsageReturned() throws Exception {
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(0, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(plugin))) {
            UsageRecord record = assertTheEndWaitsForOnUsage(proxy, "{\"stream\":true}", "data: [DONE]");
            assertEquals(LargeJsonUpstream.STREAM_CHUNKS, record.completionTokens());
            assertEquals(UsageRecord.UsageSource.REPORTED, record.usageSource());
        }
    }

    @Test
    void aStreamTheClientLeavesStillGetsExactlyOneRecordWith499() throws Exception {
        plugin.release.countDown();
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(0, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(plugin))) {
            try (Socket socket = send(proxy.port(), "{\"stream\":true}")) {
                String head = RawHttp.readHead(socket.getInputStream());
                assertTrue(head.startsWith("HTTP/1.1 200"), head);
                socket.getInputStream().readNBytes(20);
            }
            assertTrue(plugin.entered.await(30, TimeUnit.SECONDS));
            // A second request after it: once its record is in, the first request's would have come long before.
            try (Socket socket = send(proxy.port(), "{}")) {
                String answer = RawHttp.readAnswer(socket.getInputStream());
                assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            }
            Await.until("two usage records", plugin.records::size, () -> plugin.records.size() >= 2);
            assertEquals(List.of(499, 200), plugin.records.stream().map(UsageRecord::statusCode).toList());
        }
    }

    /**
     * Sends the request from another thread, waits until {@code onUsage} blocks, checks that the client has not got
     * the end of the answer (nor {@code marker}, when given), lets {@code onUsage} return, and checks that the end
     * arrived only after that.
     */
    private UsageRecord assertTheEndWaitsForOnUsage(ProxyHarness proxy, String body, String marker) throws Exception {
        try (ExecutorService client = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<Arrival> arrival = client.submit(() -> receive(proxy.port(), body, marker));
            assertTrue(plugin.entered.await(30, TimeUnit.SECONDS), "onUsage was called");
            // That the end does not come can only be seen for a while; half a second lets a client that was sent
            // everything before onUsage read it even on a busy machine, and costs a correct proxy nothing else.
            assertThrows(TimeoutException.class, () -> arrival.get(500, TimeUnit.MILLISECONDS),
                    "the client got the whole answer while onUsage ran");

            plugin.release.countDown();

            Arrival arrived = arrival.get(60, TimeUnit.SECONDS);
            assertTrue(arrived.endNanos() > plugin.returnedNanos, "the end of the answer left after onUsage returned");
            if (!marker.isEmpty()) {
                assertTrue(arrived.markerNanos() > plugin.returnedNanos, marker + " left after onUsage returned");
            }
        }
        assertEquals(1, plugin.records.size());
        return plugin.records.getFirst();
    }

    private static Socket send(int port, String body) throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(60_000);
        OutputStream out = socket.getOutputStream();
        out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                .getBytes(US_ASCII));
        out.flush();
        return socket;
    }

    /** Reads one answer (by Content-Length, or to the end of its chunks) and notes when its end and the marker came. */
    private static Arrival receive(int port, String body, String marker) throws IOException {
        try (Socket socket = send(port, body)) {
            InputStream in = socket.getInputStream();
            String head = RawHttp.readHead(in);
            assertTrue(head != null && head.startsWith("HTTP/1.1 200"), String.valueOf(head));
            long length = RawHttp.contentLength(head);
            long markerNanos = 0;
            ByteArrayOutputStream tail = new ByteArrayOutputStream();
            byte[] buffer = new byte[64 * 1024];
            long received = 0;
            while (true) {
                int n = in.read(buffer, 0, length >= 0 ? (int) Math.min(buffer.length, length - received) : buffer.length);
                if (n < 0) {
                    throw new IOException("the answer ended early, after " + received + " bytes");
                }
                received += n;
                if (length >= 0) {
                    if (received == length) {
                        return new Arrival(System.nanoTime(), markerNanos);
                    }
                    continue;
                }
                tail.write(buffer, 0, n);
                String text = tail.toString(US_ASCII);
                if (markerNanos == 0 && !marker.isEmpty() && text.contains(marker)) {
                    markerNanos = System.nanoTime();
                }
                if (text.endsWith(new String(CHUNKED_END, US_ASCII))) {
                    return new Arrival(System.nanoTime(), markerNanos);
                }
            }
        }
    }

    private record Arrival(long endNanos, long markerNanos) {
    }

    /** Keeps every record, and blocks in {@code onUsage} until the test releases it. */
    private static final class BlockingUsage implements Plugin {
        final List<UsageRecord> records = new CopyOnWriteArrayList<>();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile long returnedNanos;

        @Override
        public void onUsage(Exchange exchange, UsageRecord usage) {
            records.add(usage);
            entered.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            returnedNanos = System.nanoTime();
        }
    }
}
