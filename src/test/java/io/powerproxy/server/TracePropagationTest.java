package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.absent;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.testing.WireMockUpstream;
import io.powerproxy.usage.UsageRecord;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * W3C trace context through the proxy: a client's valid traceparent reaches the upstream as sent, any other request
 * gets a new trace, and the trace id is the same in the upstream's traceparent, the access log and the usage record.
 */
class TracePropagationTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final Pattern ACCESS_TRACE = Pattern.compile(" trace=([0-9a-f]{32})$");

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private final RecordingPlugin usage = new RecordingPlugin();
    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        azure.stubFor(post(anyUrl()).willReturn(okJson(
                "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}")));
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl() + "/"), null, List.of(usage));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void aValidTraceparentAndItsTracestateReachTheUpstreamAsSentAndNameTheTraceInTheRecords() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            HttpResponse<String> response = proxy.send(chat()
                    .header("traceparent", TRACEPARENT).header("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
                    .build());

            assertEquals(200, response.statusCode());
            LoggedRequest upstream = onlyUpstreamRequest();
            assertEquals(List.of(TRACEPARENT), upstream.getHeaders().getHeader("traceparent").values());
            assertEquals(List.of("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
                    upstream.getHeaders().getHeader("tracestate").values());
            String requestId = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            assertEquals(TRACE_ID, accessTraceId(logs, requestId));
            UsageRecord record = usage.await(1).getFirst();
            assertEquals(TRACE_ID, record.traceId());
            assertEquals(requestId, record.requestId());
        }
    }

    @Test
    void withoutATraceparentTheProxyStartsATraceThatTheUpstreamAndTheRecordsShare() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            HttpResponse<String> response = proxy.send(chat().header("tracestate", "congo=t61rcWkgMzE").build());

            String sent = onlyUpstreamRequest().getHeader("traceparent");
            assertTrue(sent.matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01"), sent);
            String traceId = sent.substring(3, 35);
            assertEquals(traceId, accessTraceId(logs, response.headers().firstValue("x-powerproxy-request-id")
                    .orElseThrow()));
            assertEquals(traceId, usage.await(1).getFirst().traceId());
            azure.verify(postRequestedFor(anyUrl()).withHeader("tracestate", absent()));
        }
    }

    @Test
    void anInvalidTraceparentIsReplacedByANewTraceWithoutTheClientsTracestate() {
        String upperCase = TRACEPARENT.toUpperCase();
        try (CapturedLogs logs = CapturedLogs.start()) {
            proxy.send(chat().header("traceparent", upperCase).header("tracestate", "congo=t61rcWkgMzE").build());

            String sent = onlyUpstreamRequest().getHeader("traceparent");
            assertTrue(sent.matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01"), sent);
            assertNotEquals(TRACE_ID, sent.substring(3, 35));
            azure.verify(postRequestedFor(anyUrl()).withHeader("tracestate", absent()));
            assertEquals(1, logs.containing("its traceparent is not a valid W3C traceparent (55 characters: '"
                    + upperCase + "')").size(), String.join("\n", logs.lines()));
        }
    }

    @Test
    void twoTraceparentHeadersStartANewTrace() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            proxy.send(chat().header("traceparent", TRACEPARENT).header("traceparent", TRACEPARENT).build());

            assertNotEquals(TRACEPARENT, onlyUpstreamRequest().getHeader("traceparent"));
            assertEquals(1, logs.containing("2 traceparent headers, where the W3C allows one").size());
        }
    }

    @Test
    void aHostileTraceparentReachesTheLogOnlyEscapedAndCutShort() throws Exception {
        // C1 and Latin-1 characters, which every JDK server passes on (a Java 21 server answers C0 controls and DEL with
        // a 400 of its own before the proxy sees them; Java 25 passes them too, and Printable escapes both the same way).
        String hostile = "00-\u0085[31m\u009b" + "A".repeat(10_000) + "\u0085 INFO forged";
        try (CapturedLogs logs = CapturedLogs.start()) {
            String answer = rawChat("traceparent: " + hostile + "\r\n");

            assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            List<String> warnings = logs.containing("its traceparent is not a valid W3C traceparent");
            assertEquals(1, warnings.size(), String.join("\n", logs.lines()));
            String warning = warnings.getFirst();
            assertTrue(warning.contains("(" + hostile.length() + " characters: '00-\\u0085[31m\\u009bAAA"), warning);
            assertTrue(warning.contains("AAA...')"), warning);
            assertTrue(warning.length() < 400, warning);
            for (String line : logs.lines()) {
                assertFalse(line.contains("\u0085") || line.contains("\u009b") || line.contains("A".repeat(100)), line);
            }
            assertNotEquals(hostile, onlyUpstreamRequest().getHeader("traceparent"));
        }
    }

    @Test
    void theProxysRefusalsCarryATraceIdInTheAccessLogToo() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            HttpResponse<String> response = proxy.send(proxy.request(CHAT).header("api-key", "not-a-client-key")
                    .header("traceparent", TRACEPARENT).POST(HttpRequest.BodyPublishers.ofString("{}")).build());

            assertEquals(401, response.statusCode());
            assertEquals(TRACE_ID, accessTraceId(logs, response.headers().firstValue("x-powerproxy-request-id")
                    .orElseThrow()));
        }
    }

    private HttpRequest.Builder chat() {
        return proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"));
    }

    private static LoggedRequest onlyUpstreamRequest() {
        List<LoggedRequest> requests = azure.findAll(postRequestedFor(anyUrl()));
        assertEquals(1, requests.size());
        return requests.getFirst();
    }

    /** The trace id of a request's access line, which is written once the answer has gone. */
    private static String accessTraceId(CapturedLogs logs, String requestId) {
        String prefix = "INFO io.powerproxy.access - " + requestId + " ";
        Await.until("the access line of " + requestId, () -> !logs.containing(prefix).isEmpty());
        List<String> lines = logs.containing(prefix);
        assertEquals(1, lines.size(), String.join("\n", logs.lines()));
        Matcher matcher = ACCESS_TRACE.matcher(lines.getFirst());
        assertTrue(matcher.find(), lines.getFirst());
        return matcher.group(1);
    }

    private String rawChat(String extraHeaders) throws Exception {
        byte[] body = "{\"messages\":[]}".getBytes(ISO_8859_1);
        String request = "POST " + CHAT + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n" + extraHeaders
                + "Connection: close\r\n\r\n" + new String(body, ISO_8859_1);
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(ISO_8859_1));
            out.flush();
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }
}
