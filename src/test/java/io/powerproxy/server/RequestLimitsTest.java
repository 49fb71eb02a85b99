package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Configs;
import io.powerproxy.testing.CountingUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Request headers and the request target are bounded: up to the bound a request is passed on, beyond it the client
 * gets 431 (headers) or 414 (target) in the Azure error shape, and nothing reaches the upstream. Beyond the JDK
 * server's own, larger bounds the connection is closed without an answer.
 */
class RequestLimitsTest {

    private static final String PATH = "/openai/deployments/gpt-4o/chat/completions";

    private CountingUpstream azure;
    private ProxyHarness proxy;

    @BeforeEach
    void start() throws IOException {
        azure = CountingUpstream.start("Sweden", Duration.ZERO, 0, 0);
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
    }

    @AfterEach
    void stop() {
        proxy.close();
        azure.close();
    }

    @Test
    void headersOfExactly32KiBArePassedOnAndOneByteMoreIsRefusedWith431() throws Exception {
        Map<String, String> atTheLimit = headersTaking(RequestLimits.MAX_HEADER_BYTES);
        Map<String, String> oneByteMore = headersTaking(RequestLimits.MAX_HEADER_BYTES + 1);

        String passed = get(PATH, atTheLimit);
        String refused = get(PATH, oneByteMore);

        assertTrue(passed.startsWith("HTTP/1.1 200"), passed);
        assertTrue(refused.startsWith("HTTP/1.1 431"), refused);
        assertTrue(refused.contains("{\"error\":{\"code\":\"RequestHeaderFieldsTooLarge\",\"message\":\"The request's"
                + " headers take 32769 bytes in 4 lines; the proxy accepts at most 32768 bytes (32 KiB) in 100 lines."),
                refused);
        assertTrue(refused.contains("Content-type: application/json"), refused);
        assertEquals(1, azure.served());
    }

    @Test
    void aHundredHeaderLinesArePassedOnAndTheHundredAndFirstIsRefusedWith431() throws Exception {
        Map<String, String> hundred = new LinkedHashMap<>(basicHeaders());
        for (int i = hundred.size(); i < RequestLimits.MAX_HEADER_LINES; i++) {
            hundred.put("X-Header-" + i, "v");
        }
        Map<String, String> hundredAndOne = new LinkedHashMap<>(hundred);
        hundredAndOne.put("X-One-Too-Many", "v");

        String passed = get(PATH, hundred);
        String refused = get(PATH, hundredAndOne);

        assertTrue(passed.startsWith("HTTP/1.1 200"), passed);
        assertTrue(refused.startsWith("HTTP/1.1 431"), refused);
        assertTrue(refused.contains(" in 101 lines;"), refused);
        assertEquals(1, azure.served());
    }

    @Test
    void oneHeaderRepeatedOnManyLinesCountsOncePerLine() throws Exception {
        StringBuilder request = new StringBuilder("GET " + PATH + " HTTP/1.1\r\n");
        basicHeaders().forEach((name, value) -> request.append(name).append(": ").append(value).append("\r\n"));
        for (int i = 0; i < 1000; i++) {
            request.append("X-Same: ").append(i).append("\r\n");
        }

        String refused = raw(request.append("\r\n").toString());

        assertTrue(refused.startsWith("HTTP/1.1 431"), refused);
        assertTrue(refused.contains(" in 1003 lines;"), refused);
        assertEquals(0, azure.served());
    }

    @Test
    void aHundredKilobyteHeaderIsRefusedWith431AndNothingReachesTheUpstream() throws Exception {
        Map<String, String> headers = new LinkedHashMap<>(basicHeaders());
        headers.put("X-Large", "x".repeat(100 * 1024));

        String refused = get(PATH, headers);

        assertTrue(refused.startsWith("HTTP/1.1 431"), refused);
        assertEquals(0, azure.served());
    }

    @Test
    void aTargetOf16KiBIsPassedOnAndOneCharacterMoreIsRefusedWith414() throws Exception {
        String prefix = PATH + "?api-version=2024-10-21&pad=";
        String atTheLimit = prefix + "p".repeat(RequestLimits.MAX_TARGET_LENGTH - prefix.length());
        String oneMore = atTheLimit + "p";

        String passed = get(atTheLimit, basicHeaders());
        String refused = get(oneMore, basicHeaders());

        assertTrue(passed.startsWith("HTTP/1.1 200"), passed);
        assertTrue(refused.startsWith("HTTP/1.1 414"), refused);
        assertTrue(refused.contains("{\"error\":{\"code\":\"UriTooLong\",\"message\":\"The request's path and query"
                + " take 16385 characters; the proxy accepts at most 16384. Send a shorter URL.\"}}"), refused);
        assertEquals(1, azure.served());
    }

    @Test
    void aRequestLineOf64KiBIsRefusedWith414AndNothingReachesTheUpstream() throws Exception {
        String refused = get(PATH + "?api-version=2024-10-21&pad=" + "p".repeat(64 * 1024), basicHeaders());

        assertTrue(refused.startsWith("HTTP/1.1 414"), refused);
        assertEquals(0, azure.served());
    }

    @Test
    void beyondTheJdkServersOwnBoundsTheConnectionIsClosedWithoutAnAnswer() throws Exception {
        Map<String, String> manyNames = new LinkedHashMap<>(basicHeaders());
        for (int i = manyNames.size(); i < 201; i++) {
            manyNames.put("X-Header-" + i, "v");
        }
        Map<String, String> hugeHeader = new LinkedHashMap<>(basicHeaders());
        hugeHeader.put("X-Huge", "x".repeat(400 * 1024));

        String tooManyNames = get(PATH, manyNames);
        String tooLarge = get(PATH, hugeHeader);

        assertEquals("", tooManyNames, "201 header names (sun.net.httpserver.maxReqHeaders is 200)");
        assertEquals("", tooLarge, "400 KiB of headers (sun.net.httpserver.maxReqHeaderSize is 380 KiB)");
        assertEquals(0, azure.served());
    }

    /** Host, api-key and Connection, plus an X-Pad header that makes all of them take exactly {@code bytes}. */
    private static Map<String, String> headersTaking(int bytes) {
        Map<String, String> headers = new LinkedHashMap<>(basicHeaders());
        int used = headers.entrySet().stream().mapToInt(h -> h.getKey().length() + h.getValue().length() + 4).sum();
        headers.put("X-Pad", "p".repeat(bytes - used - "X-Pad".length() - 4));
        return headers;
    }

    private static Map<String, String> basicHeaders() {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Host", "localhost");
        headers.put("api-key", Configs.TEAM_A_KEY);
        headers.put("Connection", "close");
        return headers;
    }

    private String get(String target, Map<String, String> headers) throws IOException {
        StringBuilder request = new StringBuilder("GET " + target + " HTTP/1.1\r\n");
        headers.forEach((name, value) -> request.append(name).append(": ").append(value).append("\r\n"));
        return raw(request.append("\r\n").toString());
    }

    /** The answer, or "" when the connection ended (or was reset) without one. */
    private String raw(String request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            try {
                out.write(request.getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
            } catch (IOException reset) {
                // The server may close while a large request is still being written; its answer, if any, is read below.
            }
            InputStream in = socket.getInputStream();
            return RawHttp.readAnswer(in);
        }
    }
}
