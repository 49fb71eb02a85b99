package io.powerproxy;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy under the OpenTelemetry Java agent (the jar Maven copies to target/otel/ before the tests), with the
 * agent's logging exporter: the server span of a request and the client span of its upstream call are in one trace,
 * the upstream gets that trace's traceparent, and the proxy's access line names the same trace, also when the client
 * sent no traceparent.
 */
class OpenTelemetryAgentTest {

    static final Path AGENT = Path.of("target", "otel", "opentelemetry-javaagent.jar");

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String CLIENT_SPAN_ID = "00f067aa0ba902b7";
    /** The agent instruments every class as it loads: a start took 53 s instead of 7 s on 2 busy cores. */
    private static final Duration AGENT_START = Duration.ofMinutes(4);

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @TempDir
    Path dir;

    @Test
    void theServerSpanAndTheUpstreamCallsClientSpanShareTheTraceThatTheUpstreamAndTheAccessLogSee() throws Exception {
        assertTrue(Files.isRegularFile(AGENT), "the agent jar is missing: " + AGENT.toAbsolutePath()
                + " is copied by `mvn test` (maven-dependency-plugin, phase generate-test-resources)");
        azure.stubFor(post(anyUrl()).willReturn(okJson("{\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}")));
        List<String> agentOptions = List.of("-javaagent:" + AGENT.toAbsolutePath(), "-Dotel.traces.exporter=logging",
                "-Dotel.metrics.exporter=none", "-Dotel.logs.exporter=none", "-Dotel.service.name=powerproxy-test");
        try (ChildProxy proxy = ChildProxy.start(Files.writeString(dir.resolve("config.yaml"),
                Configs.oneEndpoint(azure.baseUrl() + "/")), agentOptions, Map.of(), AGENT_START)) {
            HttpClient client = HttpClient.newHttpClient();

            String requestId = chat(client, proxy, "00-" + TRACE_ID + "-" + CLIENT_SPAN_ID + "-01");
            String upstreamSpanId = onlyTraceparent(0).substring(36, 52);
            assertEquals("00-" + TRACE_ID + "-" + upstreamSpanId + "-01", onlyTraceparent(0),
                    "the upstream continues the client's trace");
            assertNotEquals(CLIENT_SPAN_ID, upstreamSpanId, "the parent is the agent's client span, not the client's");
            String serverSpanId = span(proxy, "SERVER", TRACE_ID).group(2);
            assertEquals(upstreamSpanId, span(proxy, "CLIENT", TRACE_ID).group(2),
                    "the upstream's parent is the client span of the upstream call");
            assertNotEquals(serverSpanId, upstreamSpanId);
            assertEquals(TRACE_ID, accessTraceId(proxy, requestId));

            String secondId = chat(client, proxy, null);
            String started = accessTraceId(proxy, secondId);
            span(proxy, "SERVER", started);
            span(proxy, "CLIENT", started);
            assertEquals(started, onlyTraceparent(1).substring(3, 35),
                    "without a client traceparent the access line names the agent's trace");
        }
    }

    private static String chat(HttpClient client, ChildProxy proxy, String traceparent) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(proxy.uri(CHAT)).header("api-key", Configs.TEAM_A_KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"));
        if (traceparent != null) {
            request.header("traceparent", traceparent);
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        return response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
    }

    /** The one traceparent header of the nth upstream request. */
    private static String onlyTraceparent(int nth) {
        List<LoggedRequest> requests = azure.findAll(postRequestedFor(anyUrl()));
        List<String> values = requests.get(nth).getHeaders().getHeader("traceparent").values();
        assertEquals(1, values.size(), "traceparent headers: " + values);
        return values.getFirst();
    }

    /** The logging exporter's line of a span: {@code '<name>' : <trace id> <span id> <KIND> [tracer: ...] ...}. */
    private static Matcher span(ChildProxy proxy, String kind, String traceId) {
        return proxy.awaitLine(Pattern.compile("LoggingSpanExporter - '[^']*' : (" + traceId + ") ([0-9a-f]{16}) "
                + kind + " "));
    }

    private static String accessTraceId(ChildProxy proxy, String requestId) {
        return proxy.awaitLine(Pattern.compile(" access - " + requestId + " .* trace=([0-9a-f]{32})$")).group(1);
    }
}
