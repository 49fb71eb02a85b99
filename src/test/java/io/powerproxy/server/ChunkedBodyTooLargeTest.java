package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A chunked request body, whose size nobody announces, is refused with 413 once it grows past the 256 MiB the proxy
 * accepts, and nothing of it reaches the endpoint.
 */
class ChunkedBodyTooLargeTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final int CHUNK = 1 << 20;

    /** Only a safety bound, four times the most the proxy accepts: the client stops once the proxy has answered. */
    private static final int MAX_CHUNKS = 4 * (ProxyHandler.MAX_BODY_BYTES / CHUNK);

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @TempDir
    Path dir;

    @Test
    void aChunkedBodyOverTheMaximumGets413AndNothingReachesTheEndpoint() throws Exception {
        // A child JVM whose body memory holds one whole maximal body, so that the size limit answers and not the
        // memory bound (a quarter of a small test heap).
        Path config = Files.writeString(dir.resolve("config.yaml"), Configs.oneEndpoint(azure.baseUrl()));
        try (ChildProxy proxy = ChildProxy.start(config,
                        List.of("-Xmx1g", "-D" + BodyMemory.PROPERTY + "=400"));
                Socket socket = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
                ExecutorService reader = Executors.newVirtualThreadPerTaskExecutor()) {
            socket.setSoTimeout(120_000);
            Future<String> answer = reader.submit(() -> {
                try {
                    return RawHttp.readAnswer(socket.getInputStream());
                } catch (IOException e) {
                    socket.close(); // so that a writer blocked on a proxy that reads no more ends too
                    throw e;
                }
            });

            int sent = sendChunksUntilAnswered(socket.getOutputStream(), answer);

            String text = answer.get(120, TimeUnit.SECONDS);
            assertTrue(text.startsWith("HTTP/1.1 413"), text);
            assertTrue(text.contains("{\"error\":{\"code\":\"RequestTooLarge\""), text);
            assertTrue(text.contains("larger than 256 MiB"), text);
            assertTrue(sent > ProxyHandler.MAX_BODY_BYTES / CHUNK, "answered after " + sent + " chunks of 1 MiB");
            assertEquals(0, azure.getAllServeEvents().size(), "nothing reached the endpoint");
        }
    }

    /** Writes 1 MiB chunks of one reused buffer until the answer came or the proxy broke the connection. */
    private static int sendChunksUntilAnswered(OutputStream out, Future<String> answer) {
        byte[] chunk = new byte[CHUNK];
        Arrays.fill(chunk, (byte) ' ');
        byte[] chunkHead = (Integer.toHexString(CHUNK) + "\r\n").getBytes(US_ASCII);
        byte[] crlf = "\r\n".getBytes(US_ASCII);
        int sent = 0;
        try {
            out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(US_ASCII));
            while (!answer.isDone() && sent < MAX_CHUNKS) {
                out.write(chunkHead);
                out.write(chunk);
                out.write(crlf);
                sent++;
            }
            out.flush();
        } catch (IOException brokenByTheProxy) {
            // The proxy closes once it has answered and dropped what it is willing to drop; the answer is read below.
        }
        return sent;
    }
}
