package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.usage.UsageRecord;
import io.powerproxy.testing.WireMockUpstream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Request bodies in flight share a bounded amount of heap; the request that would cross it gets 503, not an OOM. */
class BodyMemoryTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();
    @RegisterExtension
    static final BodyMemoryLimit memory = BodyMemoryLimit.ofMib(1);

    @BeforeEach
    void stubAzure() {
        azure.stubFor(post(anyUrl()).willReturn(okJson("{\"ok\":true}")));
    }

    @Test
    void aRequestBodysMemoryIsFreeAgainBeforeTheLastByteOfAnAnswerWithAContentLengthLeaves() throws Exception {
        // The usage record is made just before the answer's last bytes leave; what the body holds then is what a
        // client that sends its next request as soon as it has the answer finds taken. The answer passes through,
        // so that it holds no memory of its own.
        azure.stubFor(post(anyUrl()).willReturn(aResponse().withHeader("Content-Type", "text/plain").withBody("ok")));
        List<Long> heldAtUsage = new CopyOnWriteArrayList<>();
        AtomicReference<ProxyHarness> started = new AtomicReference<>();
        Plugin probe = new Plugin() {
            @Override
            public void onUsage(Exchange exchange, UsageRecord usage) {
                heldAtUsage.add(started.get().requestBodyBytesHeld());
            }
        };
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(probe))) {
            started.set(proxy);

            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{\"messages\":[]}");

            assertEquals(200, response.statusCode());
            assertEquals("ok", response.body());
            assertEquals(List.of(0L), heldAtUsage);
        }
    }

    @Test
    void reservationsAddUpToTheBoundAndNoFurther() {
        BodyMemory memory = new BodyMemory(1000);
        memory.reserve(600);
        memory.reserve(400);

        ProxyException refused = assertThrows(ProxyException.class, () -> memory.reserve(1));
        assertEquals(503, refused.status());
        assertEquals("ServerBusy", refused.code());
        assertEquals("1", refused.headers().get("retry-after"));
        assertEquals(1000, memory.inUse(), "a refused reservation takes nothing");

        memory.release(600);
        memory.reserve(500);
        assertEquals(900, memory.inUse());
    }

    @Test
    void theBoundComesFromTheSystemPropertyInMibElseAQuarterOfTheHeap() {
        assertEquals(1L << 20, BodyMemory.fromSystemProperties().capacity());
        System.setProperty(BodyMemory.PROPERTY, "0");
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, BodyMemory::fromSystemProperties);
        assertTrue(wrong.getMessage().contains(BodyMemory.PROPERTY), wrong.getMessage());
        System.clearProperty(BodyMemory.PROPERTY);
        assertEquals(Runtime.getRuntime().maxMemory() / 4, BodyMemory.fromSystemProperties().capacity());
    }

    @Test
    void whileOneUploadHoldsTheMemoryAnotherGets503ServerBusyAndAfterwardsTheMemoryIsFreeAgain() throws Exception {
        byte[] slowBody = body(700_000);
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
                Socket slow = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
            // A slow upload declares 700 KB of the 1 MiB, which the proxy reserves at once, and sends only a little.
            slow.setSoTimeout(10_000);
            OutputStream slowOut = slow.getOutputStream();
            slowOut.write(head(CHAT, "Content-Length: " + slowBody.length));
            slowOut.write(slowBody, 0, 100);
            slowOut.flush();
            awaitHeld(proxy, slowBody.length, "the slow upload's declared length is reserved");

            String refused = send(proxy.port(), "Content-Length: 400000", body(400_000));

            assertTrue(refused.startsWith("HTTP/1.1 503"), refused);
            assertTrue(refused.contains("{\"error\":{\"code\":\"ServerBusy\""), refused);
            assertTrue(refused.toLowerCase(Locale.ROOT).contains("retry-after: 1"), refused);
            awaitHeld(proxy, slowBody.length, "the refused request holds nothing");

            slowOut.write(slowBody, 100, slowBody.length - 100);
            slowOut.flush();
            String slowAnswer = RawHttp.readAnswer(slow.getInputStream());
            assertTrue(slowAnswer.startsWith("HTTP/1.1 200"), slowAnswer);

            String afterwards = send(proxy.port(), "Content-Length: 900000", body(900_000));
            assertTrue(afterwards.startsWith("HTTP/1.1 200"), "all memory is free again: " + afterwards);
            assertEquals(2, azure.getAllServeEvents().size(), "the refused request went nowhere");
            awaitHeld(proxy, 0, "released when the requests ended");
        }
    }

    @Test
    void aChunkedUploadThatOutgrowsTheMemoryGets503AndGoesNowhere() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            byte[] big = chunked(body(1_500_000));
            byte[] small = chunked(body(300_000));

            String refused = send(proxy.port(), "Transfer-Encoding: chunked", big);
            String served = send(proxy.port(), "Transfer-Encoding: chunked", small);

            assertTrue(refused.startsWith("HTTP/1.1 503") && refused.contains("\"code\":\"ServerBusy\""), refused);
            assertTrue(served.startsWith("HTTP/1.1 200"), "what the refused upload held was given back: " + served);
            assertEquals(1, azure.getAllServeEvents().size());
            awaitHeld(proxy, 0, "released when the requests ended");
        }
    }

    /** Waits until the proxy holds {@code expected} bytes of request bodies (a request releases just after its answer). */
    private static void awaitHeld(ProxyHarness proxy, long expected, String why) {
        Await.until("the proxy holds " + expected + " bytes of request bodies: " + why, proxy::requestBodyBytesHeld,
                () -> proxy.requestBodyBytesHeld() == expected);
    }

    private static byte[] body(int size) {
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) ' ');
        body[0] = '{';
        body[size - 1] = '}';
        return body;
    }

    private static byte[] chunked(byte[] body) {
        byte[] head = (Integer.toHexString(body.length) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] tail = "\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        byte[] all = Arrays.copyOf(head, head.length + body.length + tail.length);
        System.arraycopy(body, 0, all, head.length, body.length);
        System.arraycopy(tail, 0, all, head.length + body.length, tail.length);
        return all;
    }

    private static byte[] head(String path, String framing) {
        return ("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\n" + framing + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** One request on a new connection; the answer, read by its Content-Length. */
    private static String send(int port, String framing, byte[] body) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(head(CHAT, framing));
            try {
                out.write(body);
                out.flush();
            } catch (IOException refusedBeforeTheEnd) {
                // The proxy may answer and close before it has read all of a refused body.
            }
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }
}
