package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.http.Fault;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Failures the proxy answers itself come in the Azure OpenAI error shape with the right status and no secret. */
class ErrorPathsTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @Test
    void anEndpointThatRefusesConnectionsGives429WithTheTimeItIsBlocked() throws Exception {
        try (ClosedPort closed = ClosedPort.hold();
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(closed.url()))) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(429, response.statusCode());
            AuthenticationTest.assertAzureError(response, "TooManyRequests", "deployment 'gpt-4o'");
            long retryAfterMs = Long.parseLong(response.headers().firstValue("retry-after-ms").orElseThrow());
            assertTrue(retryAfterMs > 0 && retryAfterMs <= 1_000, "blocked for a second, its first fault: " + retryAfterMs);
            assertEquals("1", response.headers().firstValue("retry-after").orElseThrow());
        }
    }

    @Test
    void anEndpointThatDoesNotAnswerWithinTheReadTimeoutGives429() throws Exception {
        azure.stubFor(any(anyUrl()).willReturn(aResponse().withStatus(200).withFixedDelay(3000).withBody("{}")));
        String config = """
                endpoints:
                  - name: Slow
                    url: %s
                    key: %s
                    connections:
                      timeouts:
                        read: 0.3
                """.formatted(azure.baseUrl(), Configs.ENDPOINT_KEY);
        try (ProxyHarness proxy = ProxyHarness.start(Configs.withAoai(config))) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(429, response.statusCode());
            AuthenticationTest.assertAzureError(response, "TooManyRequests", "deployment 'gpt-4o'");
        }
    }

    @Test
    void anEndpointThatResetsTheConnectionAfterTheRequestGives502AndIsNotRetried() throws Exception {
        azure.stubFor(any(anyUrl()).willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(502, response.statusCode());
            AuthenticationTest.assertAzureError(response, "EndpointFailed", "'Sweden'");
            assertEquals(1, azure.getAllServeEvents().size(), "sent once, never again");
        }
    }

    @Test
    void anEndpointThatBreaksOffAJsonAnswerGives502() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":\"chatcmpl";
        try (BrokenUpstream upstream = BrokenUpstream.start(head);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.url()))) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(502, response.statusCode());
            AuthenticationTest.assertAzureError(response, "EndpointFailed", "'Sweden'");
        }
    }

    @Test
    void aBinaryAnswerThatBreaksOffIsNotPassedOnAsComplete() throws Exception {
        // 100 of the 1000 bytes announced; one that breaks off before its first byte gets a 502 instead (see
        // UpstreamClosesWithoutAnswerTest).
        String head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
                + "x".repeat(100);
        try (BrokenUpstream upstream = BrokenUpstream.start(head);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.url()))) {
            HttpRequest request = proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build();

            assertNotPassedOnAsComplete(proxy, request);
        }
    }

    @Test
    void aStreamThatBreaksOffIsNotPassedOnAsComplete() throws Exception {
        String head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "10\r\ndata: {\"a\":1}\n\n\r\n";
        try (BrokenUpstream upstream = BrokenUpstream.start(head);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.url()))) {
            HttpRequest request = proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"stream\":true}")).build();

            assertNotPassedOnAsComplete(proxy, request);
        }
    }

    /**
     * The client sees the broken answer as an error: its connection cut where the answer broke off, or, when the
     * proxy's client already saw the break while reading the answer's head or first bytes (the bytes and the close can
     * arrive together, and Java 21's client sometimes reports them as one failure), a 502 EndpointFailed before
     * anything was passed on. Never a complete 200.
     */
    private static void assertNotPassedOnAsComplete(ProxyHarness proxy, HttpRequest request) throws Exception {
        HttpResponse<byte[]> response;
        try {
            response = proxy.client().send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (java.io.IOException expected) {
            return;
        }
        String body = new String(response.body(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(502, response.statusCode(), "the broken answer was passed on as complete: " + body);
        assertTrue(body.contains("\"EndpointFailed\""), body);
    }

    /** An upstream that writes the given bytes to every connection and then closes it. */
    private record BrokenUpstream(ServerSocket socket, Thread acceptor) implements AutoCloseable {
        static BrokenUpstream start(String bytes) throws java.io.IOException {
            ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            Thread acceptor = Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try (Socket connection = socket.accept()) {
                        InputStream in = connection.getInputStream();
                        byte[] buffer = new byte[8192];
                        in.read(buffer);
                        connection.getOutputStream().write(bytes.getBytes(StandardCharsets.ISO_8859_1));
                        connection.getOutputStream().flush();
                    } catch (java.io.IOException closed) {
                        // The test is over, or the proxy hung up.
                    }
                }
            });
            return new BrokenUpstream(socket, acceptor);
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort();
        }

        @Override
        public void close() throws java.io.IOException {
            socket.close();
        }
    }

    @Test
    void aBodyLargerThanTheLimitGets413BeforeItIsRead() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
                Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\napi-key: " + Configs.TEAM_A_KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + (ProxyHandler.MAX_BODY_BYTES + 1L)
                    + "\r\n\r\n{").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            String answer = RawHttp.readAnswer(socket.getInputStream());

            assertTrue(answer.startsWith("HTTP/1.1 413"), answer);
            assertTrue(answer.contains("{\"error\":{\"code\":\"RequestTooLarge\",\"message\":\"The request body is"
                    + " larger than 256 MiB"), answer);
        }
        assertEquals(0, azure.getAllServeEvents().size());
    }

    @Test
    void livenessAndReadinessAnswer204WithoutAKey() {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            assertEquals(204, proxy.send(proxy.request("/powerproxy/health/liveness").GET().build()).statusCode());
            assertEquals(204, proxy.send(proxy.request("/powerproxy/health/readiness").GET().build()).statusCode());
            assertEquals(0, azure.getAllServeEvents().size());
        }
    }

    @Test
    void readinessIs503WithTheReasonWhenAPluginIsNotReady() throws Exception {
        io.powerproxy.pipeline.Plugin notReady = new io.powerproxy.pipeline.Plugin() {
            @Override
            public String readinessProblem() {
                return "sink is spooling to disk";
            }
        };
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null,
                java.util.List.of(notReady))) {
            HttpResponse<String> response = proxy.send(proxy.request("/powerproxy/health/readiness").GET().build());

            assertEquals(503, response.statusCode());
            assertTrue(response.body().contains("sink is spooling to disk"), response.body());
            assertEquals(204, proxy.send(proxy.request("/powerproxy/health/liveness").GET().build()).statusCode());
        }
    }

    @Test
    void unknownOwnEndpointsAndWrongMethodsAreRefused() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            HttpResponse<String> unknown = proxy.send(proxy.request("/powerproxy/admin").GET().build());
            HttpResponse<String> post = proxy.send(proxy.request("/powerproxy/health/liveness")
                    .POST(HttpRequest.BodyPublishers.noBody()).build());

            assertEquals(404, unknown.statusCode());
            AuthenticationTest.assertAzureError(unknown, "NotFound", "/powerproxy/health/liveness");
            assertEquals(405, post.statusCode());
            AuthenticationTest.assertAzureError(post, "MethodNotAllowed", "GET");
        }
    }
}
