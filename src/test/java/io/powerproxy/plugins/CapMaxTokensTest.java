package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.stubbing.ServeEvent;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.json.Json;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * CapMaxTokens end to end: the proxy in front of a WireMock Azure that records what was sent, with the plugin made
 * from the config as at start.
 */
class CapMaxTokensTest {

    private static final String ANSWER = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-11-20","choices":[],\
            "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}""";

    private WireMockServer azure;

    @BeforeEach
    void start() {
        azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(anyUrl()).willReturn(okJson(ANSWER)));
    }

    @AfterEach
    void stop() {
        azure.stop();
    }

    /** Team A and Team B with the given client lines, the plugin entry, and WireMock as the one endpoint. */
    private String config(String teamA, String teamB, String plugin) {
        return """
                clients:
                  - name: Team A
                    key: %s
                %s
                  - name: Team B
                    key: %s
                %s
                plugins:
                %s
                aoai:
                  endpoints:
                    - name: Sweden
                      url: %s
                      key: %s
                """.formatted(Configs.TEAM_A_KEY, teamA.indent(4).stripTrailing(), Configs.TEAM_B_KEY,
                teamB.indent(4).stripTrailing(), plugin.indent(2).stripTrailing(), azure.baseUrl(), Configs.ENDPOINT_KEY);
    }

    private ProxyHarness proxy(String yaml, RecordingPlugin recorder) throws ConfigException {
        ProxyConfig config = ConfigLoader.parse(yaml);
        return ProxyHarness.start(config, List.of(create(config), recorder));
    }

    private static Plugin create(ProxyConfig config) throws ConfigException {
        return CapMaxTokens.create(new PluginContext(config.plugins().getFirst(), config));
    }

    private static String chat(String deployment) {
        return "/openai/deployments/" + deployment + "/chat/completions?api-version=2024-10-21";
    }

    /** The JSON body of the one request WireMock got. */
    private JsonNode sentBody() throws Exception {
        List<ServeEvent> events = azure.getAllServeEvents();
        assertEquals(1, events.size(), "one request went upstream");
        return Json.MAPPER.readTree(events.getFirst().getRequest().getBody());
    }

    private static final String PLUGIN = """
            - name: CapMaxTokens
              cap: {gpt-4o: 1000, gpt-35-turbo: 4000}
            """;

    @Test
    void aRequestOverTheCapGoesUpstreamClampedAndItsUsageIsRecorded() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = proxy(config("cap_max_tokens: {cap: 100}", "", PLUGIN), recorder)) {
            HttpResponse<String> response = proxy.postJson(chat("gpt-4o"), Configs.TEAM_A_KEY,
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5000,\"temperature\":0.2}");

            assertEquals(200, response.statusCode());
            assertEquals(ANSWER, response.body());
            JsonNode sent = sentBody();
            assertEquals(100, sent.get("max_tokens").asInt());
            assertEquals(0.2, sent.get("temperature").asDouble(), "the other fields go as sent");
            assertEquals("hi", sent.at("/messages/0/content").asText());
            UsageRecord record = recorder.await(1).getFirst();
            assertEquals("Team A", record.client());
            assertEquals(10, record.totalTokens());
        }
    }

    @Test
    void aRequestWithinTheCapGoesUpstreamByteForByte() throws Exception {
        String body = "{ \"messages\" : [{\"role\":\"user\",\"content\":\"hi\"}], \"max_tokens\": 1000 }";
        try (ProxyHarness proxy = proxy(config("", "", PLUGIN), new RecordingPlugin())) {
            assertEquals(200, proxy.postJson(chat("gpt-4o"), Configs.TEAM_A_KEY, body).statusCode());

            assertEquals(body, azure.getAllServeEvents().getFirst().getRequest().getBodyAsString());
        }
    }

    @Test
    void aClientSetToRejectGets400AndNothingGoesUpstream() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = proxy(config("", "cap_max_tokens: {over_cap: reject}", PLUGIN), recorder)) {
            HttpResponse<String> response = proxy.postJson(chat("gpt-4o"), Configs.TEAM_B_KEY,
                    "{\"messages\":[],\"max_completion_tokens\":1001}");

            assertEquals(400, response.statusCode());
            JsonNode error = Json.MAPPER.readTree(response.body()).get("error");
            assertEquals("MaxTokensOverCap", error.get("code").asText());
            assertEquals("Client 'Team B' may ask deployment 'gpt-4o' for at most 1000 tokens; this request's"
                    + " max_completion_tokens is 1001. Send max_completion_tokens of 1000 or less.",
                    error.get("message").asText());
            assertEquals(0, azure.getAllServeEvents().size(), "nothing went upstream");
            proxy.stop();
            assertEquals(List.of(), recorder.records(), "nothing was used");
        }
    }

    @Test
    void bothFieldsAreCappedAndADeploymentMissingFromTheClientsMapGetsThePluginsCap() throws Exception {
        try (ProxyHarness proxy = proxy(config("cap_max_tokens: {cap: {gpt-4o: 50}}", "", PLUGIN), new RecordingPlugin())) {
            proxy.postJson(chat("gpt-35-turbo"), Configs.TEAM_A_KEY,
                    "{\"messages\":[],\"max_tokens\":9000,\"max_completion_tokens\":8000}");

            JsonNode sent = sentBody();
            assertEquals(4000, sent.get("max_tokens").asInt());
            assertEquals(4000, sent.get("max_completion_tokens").asInt());
        }
    }

    @Test
    void aDeploymentWithoutAnyCapIsLeftAlone() throws Exception {
        String body = "{\"messages\":[],\"max_tokens\":9000}";
        try (ProxyHarness proxy = proxy(config("cap_max_tokens: {cap: {gpt-4o: 50}}", "", PLUGIN), new RecordingPlugin())) {
            proxy.postJson(chat("gpt-4o-mini"), Configs.TEAM_A_KEY, body);

            assertEquals(body, azure.getAllServeEvents().getFirst().getRequest().getBodyAsString());
        }
    }

    @Test
    void aMissingOrNullLimitIsSetToTheCapWhenConfiguredAndLeftOtherwise() throws Exception {
        String plugin = PLUGIN + "  when_missing: max_completion_tokens\n";
        try (ProxyHarness proxy = proxy(config("", "cap_max_tokens: {when_missing: leave}", plugin), new RecordingPlugin())) {
            proxy.postJson(chat("gpt-4o"), Configs.TEAM_A_KEY, "{\"messages\":[],\"max_tokens\":null}");
            proxy.postJson(chat("gpt-4o"), Configs.TEAM_B_KEY, "{\"messages\":[]}");

            List<ServeEvent> events = new ArrayList<>(azure.getAllServeEvents());
            events.sort((a, b) -> a.getRequest().getLoggedDate().compareTo(b.getRequest().getLoggedDate()));
            JsonNode teamA = Json.MAPPER.readTree(events.get(0).getRequest().getBody());
            assertEquals(1000, teamA.get("max_completion_tokens").asInt());
            assertTrue(teamA.get("max_tokens").isNull(), "the null stays: " + teamA);
            assertEquals("{\"messages\":[]}", events.get(1).getRequest().getBodyAsString());
        }
    }

    @Test
    void onlyChatAndCompletionsRequestsAreCapped() throws Exception {
        String plugin = PLUGIN + "  when_missing: max_tokens\n";
        String body = "{\"input\":\"hello\"}";
        try (ProxyHarness proxy = proxy(config("", "", plugin), new RecordingPlugin())) {
            proxy.postJson("/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21", Configs.TEAM_A_KEY, body);

            assertEquals(body, azure.getAllServeEvents().getFirst().getRequest().getBodyAsString());
        }
    }

    @Test
    void everyMistakeInItsSettingsIsReportedWithItsPath() throws Exception {
        ProxyConfig config = ConfigLoader.parse(config(
                "cap_max_tokens: {cap: {gpt-4o: 0}, overcap: reject}", "cap_max_tokens: 500", """
                - name: CapMaxTokens
                  cap: lots
                  over_cap: clmap
                  when_missing: always
                """));

        ConfigException problems = assertThrows(ConfigException.class, () -> create(config));

        assertEquals(List.of(
                "plugins[0].cap must be a whole number of at least 1, got 'lots'",
                "plugins[0].over_cap must be one of clamp, reject, got 'clmap'",
                "plugins[0].when_missing must be one of leave, max_tokens, max_completion_tokens, got 'always'",
                "clients[0].cap_max_tokens.cap.gpt-4o must be a whole number of at least 1, got '0'",
                "clients[1].cap_max_tokens must be a mapping (key: value lines), got '500'",
                "clients[0].cap_max_tokens.overcap is not a setting of CapMaxTokens; its settings here are: cap, over_cap,"
                        + " when_missing"), problems.problems());
    }
}
