package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.HttpsWireMock;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * HTTP/1.1 to an https endpoint unless {@code connections.http2: true} asks for HTTP/2 (README "8. Server and client
 * settings"). The upstream is WireMock on TLS, which negotiates h2 by ALPN and records the protocol of each
 * request; the proxy runs in a child JVM that trusts its certificate.
 */
class Http2UpstreamTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String STREAM = """
            data: {"choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}\r
            \r
            data: {"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"model":"gpt-4o"}

            data: {"choices":[{"delta":{"content":"Hello"},"finish_reason":null,"index":0}],"model":"gpt-4o"}

            data: {"choices":[{"delta":{"content":" there"},"finish_reason":null,"index":0}],"model":"gpt-4o"}

            data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"model":"gpt-4o"}

            data: {"choices":[],"model":"gpt-4o","usage":{"completion_tokens":3,"prompt_tokens":9,"total_tokens":12}}

            data: [DONE]

            """;

    @TempDir
    Path dir;

    @Test
    void aStreamFromAnHttp2EndpointIsPassedOnByteForByteAndItsUsageCounted() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            stubStream(azure);
            try (ChildProxy proxy = proxyFor(azure, "connections: {http2: true}");
                    HttpClient client = HttpClient.newHttpClient()) {

                HttpResponse<byte[]> response = streamThrough(proxy, client);

                assertEquals(200, response.statusCode(), proxy.tail());
                assertEquals(STREAM, new String(response.body(), StandardCharsets.UTF_8));
                assertEquals("HTTP/2.0", onlyRequest(azure).getProtocol());
                String usage = proxy.awaitLineContaining("\"usage_source\":\"reported\"");
                assertTrue(usage.contains("\"is_streaming\":true,\"prompt_tokens\":9,\"completion_tokens\":3,"
                        + "\"total_tokens\":12"), usage);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "connections: {http2: false}"})
    void withoutHttp2AnHttpsEndpointIsSpokenToOverHttp11(String setting) throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            stubStream(azure);
            try (ChildProxy proxy = proxyFor(azure, setting);
                    HttpClient client = HttpClient.newHttpClient()) {

                HttpResponse<byte[]> response = streamThrough(proxy, client);

                assertEquals(200, response.statusCode(), proxy.tail());
                assertEquals(STREAM, new String(response.body(), StandardCharsets.UTF_8));
                assertEquals("HTTP/1.1", onlyRequest(azure).getProtocol());
            }
        }
    }

    @Test
    void anHttp2EndpointThatSendsNoHeadersWithinTheReadTimeoutIsGivenUpOn() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            azure.server().stubFor(post(urlEqualTo(CHAT)).willReturn(aResponse().withStatus(200)
                    .withHeader("Content-Type", "application/json").withBody("{}").withFixedDelay(5_000)));
            try (ChildProxy proxy = proxyFor(azure, "connections: {http2: true, timeouts: {read: 0.5}}");
                    HttpClient client = HttpClient.newHttpClient()) {

                HttpResponse<byte[]> response = streamThrough(proxy, client);

                // The only endpoint timed out and is blocked for it: the client gets 429, not the late 200.
                assertEquals(429, response.statusCode(), proxy.tail());
                proxy.awaitLineContaining("Sweden did not answer within 500 ms");
                assertEquals("HTTP/2.0", onlyRequest(azure).getProtocol());
            }
        }
    }

    private static void stubStream(HttpsWireMock azure) {
        azure.server().stubFor(post(urlEqualTo(CHAT)).willReturn(aResponse()
                .withStatus(200)
                .withHeader("Content-Type", "text/event-stream; charset=utf-8")
                .withBody(STREAM)));
    }

    /** The proxy with LogUsageToConsole and one endpoint at the server, with this line added to the endpoint. */
    private ChildProxy proxyFor(HttpsWireMock azure, String endpointLine) throws Exception {
        Path config = Files.writeString(dir.resolve("config.yaml"), """
                clients:
                  - name: Team A
                    key: %s
                plugins:
                  - name: LogUsageToConsole
                aoai:
                  endpoints:
                    - name: Sweden
                      url: %s
                      key: %s
                      %s
                """.formatted(Configs.TEAM_A_KEY, azure.baseUrl(), Configs.ENDPOINT_KEY, endpointLine));
        return ChildProxy.start(config, List.of(
                "-Djavax.net.ssl.trustStore=" + azure.trustStore(),
                "-Djavax.net.ssl.trustStorePassword=" + HttpsWireMock.STORE_PASSWORD,
                "-Djavax.net.ssl.trustStoreType=PKCS12"));
    }

    /** A streaming chat request that asks for the usage chunk itself, so that it gets the upstream's bytes unchanged. */
    private static HttpResponse<byte[]> streamThrough(ChildProxy proxy, HttpClient client) throws Exception {
        return client.send(HttpRequest.newBuilder(proxy.uri(CHAT))
                .timeout(Duration.ofSeconds(30))
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}"))
                .build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private static LoggedRequest onlyRequest(HttpsWireMock azure) {
        List<LoggedRequest> requests = azure.server().findAll(
                postRequestedFor(urlEqualTo(CHAT)));
        assertEquals(1, requests.size());
        return requests.getFirst();
    }
}
