package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.ScriptedSseUpstream;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One access-log line per request: id, method, path without the query, client, target, status; never a key. */
class AccessLogTest {

    private static final String PATH = "/openai/deployments/gpt-4o/chat/completions";

    private static List<String> accessLines(CapturedLogs logs) {
        return logs.lines().stream().filter(line -> line.startsWith("INFO io.powerproxy.access - ")).toList();
    }

    @Test
    void theLineNamesTheRequestButNeitherTheKeyNorTheQuery() {
        String yaml = Configs.withAoai("""
                mock_response:
                  json: {"object": "chat.completion", "choices": []}
                """);
        try (CapturedLogs logs = CapturedLogs.start()) {
            ProxyHarness proxy = ProxyHarness.start(yaml);
            HttpResponse<String> response = proxy.postJson(PATH + "?api-version=2024-10-21&sig=query-secret-123",
                    Configs.TEAM_A_KEY, "{}");
            proxy.stop();

            List<String> lines = accessLines(logs);
            assertEquals(1, lines.size(), String.join("\n", logs.lines()));
            String line = lines.getFirst();
            String id = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            assertTrue(line.contains(id + " POST " + PATH + " client=Team A deployment=gpt-4o target=mock status=200 "),
                    line);
            assertFalse(line.contains("query-secret") || line.contains("api-version"), line);
            for (String logged : logs.lines()) {
                assertFalse(logged.contains(Configs.TEAM_A_KEY), "a client key was logged: " + logged);
            }
        }
    }

    @Test
    void aClientThatLeavesMidStreamIsLoggedWithStatus499() throws Exception {
        List<String> events = new ArrayList<>();
        // More than any socket buffers hold (about 2 MB), so the proxy meets the closed connection however late the
        // client's close reaches it.
        String padding = "x".repeat(1000);
        for (int i = 0; i < 2000; i++) {
            events.add("data: {\"choices\":[{\"delta\":{\"content\":\"word" + i + padding + " \"}}]}\n\n");
        }
        try (CapturedLogs logs = CapturedLogs.start();
                ScriptedSseUpstream upstream = ScriptedSseUpstream.startHeldAfterFirst(events)) {
            ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()));
            HttpResponse<InputStream> response = proxy.sendForStream(proxy.request(PATH + "?api-version=1")
                    .header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[],\"stream\":true}")).build());
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                assertTrue(reader.readLine().startsWith("data:"));
            }
            // The client has gone: the events the upstream now sends cannot be written.
            upstream.release();
            Await.until("the request ended", () -> !accessLines(logs).isEmpty());
            proxy.stop();

            List<String> lines = accessLines(logs);
            assertEquals(1, lines.size(), String.join("\n", logs.lines()));
            assertTrue(lines.getFirst().contains(" status=499 "), lines.getFirst());
        }
    }
}
