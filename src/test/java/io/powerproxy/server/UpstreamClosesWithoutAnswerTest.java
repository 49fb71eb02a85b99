package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.ClosingUpstream;
import io.powerproxy.testing.ClosingUpstream.Behaviour;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * An upstream that closes the connection without an answer, or before the first byte of its body, gives the client
 * a 502 error JSON, never an empty reply; small and multi-MB request bodies, with a 30 KB header (just under the proxy's own 32 KiB bound on request headers) or without.
 */
class UpstreamClosesWithoutAnswerTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String BAD_GATEWAY = "HTTP/1.1 502 ";

    @ParameterizedTest(name = "{0}, body of {1} bytes, extra header of {2} bytes")
    @CsvSource({
            "CLOSE_SILENTLY, 200, 0", "CLOSE_SILENTLY, 5000000, 0", "CLOSE_SILENTLY, 200, 30000",
            "CLOSE_SILENTLY, 5000000, 30000",
            "RESET, 200, 0", "RESET, 5000000, 0", "RESET, 200, 30000",
            "HEADERS_ONLY_AND_CLOSE, 200, 0", "HEADERS_ONLY_AND_CLOSE, 5000000, 0",
            "HEADERS_ONLY_AND_CLOSE, 200, 30000", "HEADERS_ONLY_AND_CLOSE, 5000000, 30000",
    })
    void anUpstreamThatClosesBeforeItsAnswersFirstBodyByteGivesTheClient502(Behaviour behaviour, int bodySize,
            int headerSize) throws Exception {
        try (ClosingUpstream upstream = ClosingUpstream.start(behaviour);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()))) {
            for (int i = 0; i < 3; i++) {
                String answer = send(proxy.port(), bodySize, headerSize);

                assertTrue(answer.startsWith(BAD_GATEWAY), "attempt " + i + ": " + answer);
                assertTrue(answer.contains("{\"error\":{\"code\":\"EndpointFailed\""), answer);
            }
        }
    }

    @ParameterizedTest(name = "body of {0} bytes, extra header of {1} bytes")
    @CsvSource({"200, 0", "5000000, 0", "200, 30000", "5000000, 30000"})
    void anUpstreamThatAnswers431AndClosesGivesTheClientThat431OrA502NeverNothing(int bodySize, int headerSize)
            throws Exception {
        try (ClosingUpstream upstream = ClosingUpstream.start(Behaviour.ANSWER_431_AND_CLOSE);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()))) {
            for (int i = 0; i < 3; i++) {
                String answer = send(proxy.port(), bodySize, headerSize);

                // Whether the upstream's answer or its reset reaches the proxy first is up to the kernel.
                boolean relayed = answer.startsWith("HTTP/1.1 431 ") && answer.endsWith(ClosingUpstream.BODY);
                boolean failed = answer.startsWith(BAD_GATEWAY) && answer.contains("\"code\":\"EndpointFailed\"");
                assertTrue(relayed || failed, "attempt " + i + ": " + answer);
            }
        }
    }

    @Test
    void anAnswerThatBreaksOffAfterItsFirstBytesReachesTheClientCutOffWithItsStatusLine() throws Exception {
        try (ClosingUpstream upstream = ClosingUpstream.start(Behaviour.PART_OF_THE_BODY_AND_CLOSE);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()));
                Socket socket = request(proxy.port(), 200, 0)) {
            InputStream in = socket.getInputStream();
            String head = RawHttp.readHead(in);

            assertTrue(head != null && head.startsWith("HTTP/1.1 431 "), String.valueOf(head));
            assertEquals(ClosingUpstream.BODY.length(), RawHttp.contentLength(head), head);
            byte[] body = in.readAllBytes();
            assertTrue(body.length < ClosingUpstream.BODY.length(), "the body is cut off, so the client cannot take"
                    + " it for complete: " + new String(body, US_ASCII));
        }
    }

    /** One request on a new connection; the answer, read by its Content-Length; empty when there was none. */
    private static String send(int port, int bodySize, int headerSize) throws IOException {
        try (Socket socket = request(port, bodySize, headerSize)) {
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }

    private static Socket request(int port, int bodySize, int headerSize) throws IOException {
        byte[] body = new byte[bodySize];
        Arrays.fill(body, (byte) ' ');
        body[0] = '{';
        body[bodySize - 1] = '}';
        String extra = headerSize == 0 ? "" : "x-padding: " + "a".repeat(headerSize) + "\r\n";
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(30_000);
        OutputStream out = socket.getOutputStream();
        out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\n" + extra + "Content-Length: " + bodySize + "\r\n\r\n")
                .getBytes(US_ASCII));
        out.write(body);
        out.flush();
        return socket;
    }
}
