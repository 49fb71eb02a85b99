package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.testing.ProxyHarness;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the README's first screen promises of `make run`: the demo config answers its curl lines, streaming too. */
class DemoConfigTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String DEMO_KEY = "demo-key-team-1-change-me";
    private static final String MOCK_ANSWER =
            "Hello from PowerProxy's built-in mock. Point aoai.endpoints at Azure OpenAI to get real answers.";

    private static ProxyHarness demo() throws Exception {
        String yaml = Files.readString(Path.of("config/demo.yaml"));
        ProxyConfig config = ConfigLoader.parse(yaml);
        return ProxyHarness.start(config, PowerProxy.pluginRegistry(Map.of()).createAll(config));
    }

    @Test
    void theReadmesCurlGetsTheMockAnswer() throws Exception {
        try (ProxyHarness proxy = demo()) {
            HttpResponse<String> response = proxy.postJson(CHAT, DEMO_KEY,
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");

            assertEquals(200, response.statusCode(), response.body());
            assertTrue(response.body().contains(MOCK_ANSWER), response.body());
        }
    }

    @Test
    void theReadmesStreamingCurlGetsTheMockAnswerEventByEvent() throws Exception {
        try (ProxyHarness proxy = demo()) {
            HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                    .header("api-key", DEMO_KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"stream\":true}"))
                    .build());

            assertEquals(200, response.statusCode(), response.body());
            assertTrue(response.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
            List<String> data = new ArrayList<>();
            for (String line : response.body().split("\n")) {
                if (line.startsWith("data: ")) {
                    data.add(line.substring(6));
                }
            }
            assertEquals("[DONE]", data.getLast());
            StringBuilder content = new StringBuilder();
            for (String chunk : data.subList(0, data.size() - 1)) {
                var json = io.powerproxy.json.Json.MAPPER.readTree(chunk);
                for (var choice : json.path("choices")) {
                    content.append(choice.path("delta").path("content").asText(""));
                }
                assertTrue(json.path("usage").isMissingNode() || json.path("usage").isNull(),
                        "the curl did not ask for usage, so no usage chunk: " + chunk);
            }
            assertEquals(MOCK_ANSWER, content.toString());
        }
    }

    @Test
    void theSecondTeamMayNotUseGpt4o() throws Exception {
        try (ProxyHarness proxy = demo()) {
            HttpResponse<String> response = proxy.postJson(CHAT, "demo-key-team-2-change-me", "{\"messages\":[]}");

            assertEquals(401, response.statusCode());
            assertTrue(response.body().contains("gpt-4o"), response.body());
        }
    }
}
