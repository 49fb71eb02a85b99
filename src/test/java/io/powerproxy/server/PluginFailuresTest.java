package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.streaming.SseEvent;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.testing.ScriptedSseUpstream;
import io.powerproxy.testing.WireMockUpstream;
import io.powerproxy.usage.UsageRecord;
import java.nio.ByteBuffer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A plugin that throws, or a request the upstream client cannot carry, costs neither the answer nor the usage record
 * where that can be avoided, and is otherwise refused in the Azure OpenAI error shape.
 */
class PluginFailuresTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String ANSWER = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-11-20",\
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],\
            "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}""";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @BeforeEach
    void start() {
        azure.stubFor(post(anyUrl()).willReturn(okJson(ANSWER)));
    }

    /** The proxy in front of the WireMock Azure, with these plugins in this order. */
    private ProxyHarness proxyWith(Plugin... plugins) {
        return ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(plugins));
    }

    /** A plugin whose hooks throw, each counting how often it was called. */
    private static final class Broken implements Plugin {
        private final String hook;
        private final AtomicInteger calls = new AtomicInteger();

        Broken(String hook) {
            this.hook = hook;
        }

        private void maybeThrow(String called) {
            if (called.equals(hook)) {
                calls.incrementAndGet();
                throw new IllegalStateException("plugin bug in " + called);
            }
        }

        @Override
        public void onRequestReceived(Exchange exchange) {
            maybeThrow("requestReceived");
        }

        @Override
        public void onResponseBody(Exchange exchange, ByteBuffer body) {
            maybeThrow("responseBody");
        }

        @Override
        public void onStreamEvent(Exchange exchange, SseEvent event) {
            maybeThrow("streamEvent");
        }

        @Override
        public void onUsage(Exchange exchange, UsageRecord usage) {
            maybeThrow("usage");
        }
    }

    @Test
    void aPluginThatThrowsBeforeTheUpstreamCallGives500NamingTheRequestIdAndIsNamedInTheLog() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (CapturedLogs logs = CapturedLogs.start();
                ProxyHarness proxy = proxyWith(new Broken("requestReceived"), recorder)) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(500, response.statusCode());
            String requestId = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            AuthenticationTest.assertAzureError(response, "InternalServerError", "request id " + requestId);
            assertFalse(response.body().contains("plugin bug"), "the exception stays in the log: " + response.body());
            assertEquals(0, azure.getAllServeEvents().size(), "nothing went upstream");
            assertTrue(logs.containing("plugin Broken failed in onRequestReceived for request " + requestId).stream()
                    .anyMatch(line -> line.startsWith("ERROR") && line.contains("plugin bug in requestReceived")),
                    String.join("\n", logs.lines()));
            // A record comes just after the answer: only once the proxy stopped, and with it every handler, is none due.
            proxy.stop();
            assertEquals(List.of(), recorder.records(), "no upstream answered, so there is no usage to record");
        }
    }

    @Test
    void aPluginThatThrowsOnTheAnswerCostsTheClientNothingAndTheUsageIsStillRecorded() throws Exception {
        Broken broken = new Broken("responseBody");
        RecordingPlugin recorder = new RecordingPlugin();
        try (CapturedLogs logs = CapturedLogs.start();
                ProxyHarness proxy = proxyWith(broken, recorder)) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(200, response.statusCode());
            assertEquals(ANSWER, response.body());
            assertEquals(1, broken.calls.get());
            UsageRecord record = recorder.await(1).getFirst();
            assertEquals(10, record.totalTokens());
            assertTrue(logs.lines().stream().anyMatch(line -> line.startsWith("ERROR")
                    && line.contains("failed in onResponseBody") && line.contains(Broken.class.getName())),
                    String.join("\n", logs.lines()));
        }
    }

    @Test
    void aPluginThatThrowsOnEveryStreamEventLeavesTheStreamWholeAndItsUsageRecorded() throws Exception {
        List<String> events = List.of(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one \"}}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"two\"}}]}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
                "data: [DONE]\n\n");
        Broken broken = new Broken("streamEvent");
        RecordingPlugin recorder = new RecordingPlugin();
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(5), Duration.ZERO);
                CapturedLogs logs = CapturedLogs.start();
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null,
                        List.of(broken, recorder))) {
            HttpRequest request = proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                            + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}"))
                    .build();
            HttpResponse<byte[]> response = proxy.sendForBytes(request);

            assertEquals(200, response.statusCode());
            assertEquals(String.join("", events), new String(response.body(), StandardCharsets.UTF_8));
            assertTrue(broken.calls.get() >= 3, "called for each event: " + broken.calls.get());
            UsageRecord record = recorder.await(1).getFirst();
            assertEquals(7, record.totalTokens());
            assertEquals("reported", record.usageSource().label());
            List<String> failures = logs.containing("failed in onStreamEvent");
            assertEquals(2, failures.size(), "the first failure, then the count: " + failures);
            assertTrue(failures.get(0).contains("plugin bug in streamEvent"), failures.get(0));
            assertTrue(failures.get(1).contains("on " + broken.calls.get() + " events"), failures.get(1));
        }
    }

    @Test
    void aUsagePluginThatThrowsDoesNotKeepTheRecordFromThePluginsAfterIt() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (CapturedLogs logs = CapturedLogs.start();
                ProxyHarness proxy = proxyWith(new Broken("usage"), recorder)) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(200, response.statusCode());
            assertEquals(1, recorder.await(1).size());
            assertFalse(logs.containing("failed in onUsage").isEmpty(), String.join("\n", logs.lines()));
        }
    }

    @Test
    void aHeaderValueTheUpstreamClientCannotSendGives400InvalidHeaderAndNothingGoesUpstream() throws Exception {
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()))) {
            byte[] body = "{}".getBytes(StandardCharsets.US_ASCII);
            // A control character in a header value: the server reads it, java.net.http refuses to send it.
            String head = "POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY + "\r\n"
                    + "Content-Type: application/json\r\nX-Trace: a\u0001b\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n";
            String answer = exchange(proxy.port(), head.getBytes(StandardCharsets.ISO_8859_1), body);

            assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
            // JDK servers with the October 2026 updates (Debian's 21.0.13) refuse such a header themselves, in HTML.
            if (!answer.contains("Invalid character in request header")) {
                assertTrue(answer.contains("\"code\":\"InvalidHeader\""), answer);
                assertTrue(answer.toLowerCase(Locale.ROOT).contains("'x-trace'"), answer);
            }
            assertFalse(answer.contains(Configs.ENDPOINT_KEY));
            assertEquals(0, azure.getAllServeEvents().size(), "nothing went upstream");
        }
    }

    /** Sends raw bytes on a new connection and returns the one answer. */
    private static String exchange(int port, byte[] head, byte[] body) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(head);
            out.write(body);
            out.flush();
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }
}
