package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;

/**
 * A request refused while its body is still arriving gets its error answer, not a reset: the proxy reads and drops
 * the rest of the body before it closes the connection (a lingering close).
 */
class RefusedUploadTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final int MB = 1_000_000;

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();
    @RegisterExtension
    static final BodyMemoryLimit memory = BodyMemoryLimit.ofMib(16);

    @BeforeEach
    void stubAzure() {
        azure.stubFor(post(anyUrl()).willReturn(okJson("{\"ok\":true}")));
    }

    @Test
    void threeChunkedUploadsOf120MbAtOnceEachGetTheir503() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
                ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                answers.add(clients.submit(() -> upload(proxy.port(), Configs.TEAM_A_KEY, -1, 120 * MB)));
            }
            for (Future<String> answer : answers) {
                String text = answer.get(120, TimeUnit.SECONDS);
                assertTrue(text.startsWith("HTTP/1.1 503"), text);
                assertTrue(text.contains("{\"error\":{\"code\":\"ServerBusy\""), text);
            }
            assertEquals(0, azure.getAllServeEvents().size());
        }
    }

    @Test
    void anUploadWithAnUnknownKeyGetsIts401ThoughItsBodyIsNeverUsed() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            String answer = upload(proxy.port(), "not-a-key", 50 * MB, 50 * MB);

            assertTrue(answer.startsWith("HTTP/1.1 401"), answer);
            assertTrue(answer.contains("{\"error\":{\"code\":\"Unauthorized\""), answer);
        }
    }

    @Test
    void anUploadWhoseDeclaredLengthFindsNoRoomGetsIts503() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            String answer = upload(proxy.port(), Configs.TEAM_A_KEY, 30 * MB, 30 * MB);

            assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
            assertTrue(answer.contains("{\"error\":{\"code\":\"ServerBusy\""), answer);
        }
    }

    @Test
    void aClientThatStopsSendingARefusedBodyGetsItsAnswerAndThenTheConnectionCloses() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
                Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
            socket.setSoTimeout(60_000);
            OutputStream out = socket.getOutputStream();
            // 300 MB announced, over the 256 MiB the proxy accepts; 2 MB sent, then the client waits for the answer.
            out.write(head(Configs.TEAM_A_KEY, "Content-Length: " + 300 * MB));
            out.write(new byte[2 * MB]);
            out.flush();
            InputStream in = socket.getInputStream();

            String answer = RawHttp.readAnswer(in);

            assertTrue(answer.startsWith("HTTP/1.1 413"), answer);
            assertTrue(answer.contains("{\"error\":{\"code\":\"RequestTooLarge\""), answer);
            assertTrue(answer.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), answer);
            // The proxy gives up on the rest once the client has sent nothing for a while, and closes.
            assertEquals(-1, in.read());
        }
    }

    private static byte[] head(String key, String framing) {
        return ("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + key
                + "\r\nContent-Type: application/json\r\n" + framing + "\r\n\r\n").getBytes(US_ASCII);
    }

    /**
     * Sends a whole upload of {@code size} bytes, chunked when {@code declared} is negative, as a client that reads
     * nothing before it has sent its request; returns the answer, or what went wrong.
     */
    private static String upload(int port, String key, long declared, long size) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(60_000);
            OutputStream out = socket.getOutputStream();
            byte[] block = new byte[64 * 1024];
            Arrays.fill(block, (byte) ' ');
            try {
                out.write(head(key, declared < 0 ? "Transfer-Encoding: chunked" : "Content-Length: " + declared));
                for (long sent = 0; sent < size; sent += block.length) {
                    int n = (int) Math.min(block.length, size - sent);
                    if (declared < 0) {
                        out.write((Integer.toHexString(n) + "\r\n").getBytes(US_ASCII));
                        out.write(block, 0, n);
                        out.write("\r\n".getBytes(US_ASCII));
                    } else {
                        out.write(block, 0, n);
                    }
                }
                if (declared < 0) {
                    out.write("0\r\n\r\n".getBytes(US_ASCII));
                }
                out.flush();
            } catch (IOException e) {
                return "(the upload failed: " + e + ") " + readQuietly(socket.getInputStream());
            }
            return readQuietly(socket.getInputStream());
        }
    }

    private static String readQuietly(InputStream in) {
        try {
            return RawHttp.readAnswer(in);
        } catch (IOException e) {
            return "(reading the answer failed: " + e + ")";
        }
    }
}
