package io.powerproxy;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POWERPROXY_LOG_FORMAT=json} with the shipped logback.xml, in a process of its own: every line on stdout is one
 * JSON object, and a request's lines carry its request id and trace id as fields.
 */
class JsonLogsTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @TempDir
    Path dir;

    @Test
    void everyLineIsOneJsonObjectAndTheAccessLineHasTheRequestAndTraceIdsAsFields() throws Exception {
        azure.stubFor(post(anyUrl()).willReturn(okJson("{\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}")));
        // A value built to break a JSON line: a quote and brace, C1 controls (NEL, CSI) and a forged field. (C0 controls
        // get a 400 from a Java 21 server before the proxy sees them.)
        String hostile = "00-\"},\"level\":\"ERROR\"\u009b\u0085{\"x\":\"";
        try (ChildProxy proxy = ChildProxy.start(Files.writeString(dir.resolve("config.yaml"),
                Configs.oneEndpoint(azure.baseUrl() + "/")), List.of(shippedLogbackXml()),
                Map.of("POWERPROXY_LOG_FORMAT", "json"))) {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(proxy.uri(CHAT))
                    .header("api-key", Configs.TEAM_A_KEY).header("traceparent", TRACEPARENT)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode());
            String requestId = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            String answer = rawChat(proxy, "traceparent: " + hostile + "\r\n");
            assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            proxy.awaitLineContaining("its traceparent is not a valid W3C traceparent");
            proxy.awaitLineContaining(requestId + " POST");
            proxy.sigterm();
            assertEquals(0, proxy.awaitExit(), proxy.output());

            List<JsonNode> events = new ArrayList<>();
            for (String line : proxy.output().split("\n")) {
                try {
                    JsonNode event = JSON.readTree(line);
                    assertTrue(event.isObject(), line);
                    events.add(event);
                } catch (IOException notJson) {
                    fail("not one JSON object: " + line + "\nin:\n" + proxy.output());
                }
                assertFalse(line.contains("\u009b") || line.contains("\u0085"), line);
            }

            JsonNode access = only(events, event -> event.path("loggerName").asText().equals("io.powerproxy.access")
                    && event.path("formattedMessage").asText().startsWith(requestId + " "));
            assertEquals("INFO", access.path("level").asText());
            assertEquals(requestId, access.path("mdc").path("request_id").asText(), access.toString());
            assertEquals("4bf92f3577b34da6a3ce929d0e0e4736", access.path("mdc").path("trace_id").asText(),
                    access.toString());
            assertTrue(access.path("formattedMessage").asText().endsWith(" trace=4bf92f3577b34da6a3ce929d0e0e4736"),
                    access.toString());

            JsonNode warning = only(events, event -> event.path("formattedMessage").asText()
                    .contains("its traceparent is not a valid W3C traceparent"));
            assertEquals("WARN", warning.path("level").asText());
            assertTrue(warning.path("formattedMessage").asText()
                    .contains("'00-\"},\"level\":\"ERROR\"\\u009b\\u0085{\"x\":\"'"), warning.toString());
            String warnedId = warning.path("mdc").path("request_id").asText();
            assertTrue(warnedId.matches("[0-9a-f]{16}") && warning.path("formattedMessage").asText()
                    .startsWith("request " + warnedId + ": "), warning.toString());
            assertTrue(events.stream().anyMatch(event -> event.path("formattedMessage").asText()
                    .startsWith("PowerProxy for Azure OpenAI ")), "the start banner is one event");
        }
    }

    @Test
    void theDefaultTextFormatWritesTextLinesAndNoLogbackStatus() throws Exception {
        try (ChildProxy proxy = ChildProxy.start(Files.writeString(dir.resolve("config.yaml"),
                Configs.oneEndpoint(azure.baseUrl() + "/")), List.of(shippedLogbackXml()), Map.of())) {
            String ready = proxy.awaitLineContaining("ready on port");
            proxy.sigterm();
            assertEquals(0, proxy.awaitExit(), proxy.output());

            assertTrue(ready.matches("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+(Z|[+-][0-9:]+) INFO  PowerProxy - ready on port .*"), ready);
            assertFalse(proxy.output().contains("|-"), "Logback printed its status:\n" + proxy.output());
        }
    }

    private static JsonNode only(List<JsonNode> events, java.util.function.Predicate<JsonNode> which) {
        List<JsonNode> found = events.stream().filter(which).toList();
        assertEquals(1, found.size(), events.toString());
        return found.getFirst();
    }

    /** The test classpath's logback-test.xml would win over the shipped file. */
    private static String shippedLogbackXml() throws URISyntaxException {
        return "-Dlogback.configurationFile=" + Path.of(PowerProxy.class.getResource("/logback.xml").toURI());
    }

    private static String rawChat(ChildProxy proxy, String extraHeaders) throws IOException {
        String body = "{\"messages\":[]}";
        String request = "POST " + CHAT + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n" + extraHeaders
                + "Connection: close\r\n\r\n" + body;
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(ISO_8859_1));
            out.flush();
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }
}
