package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.WireMockServer;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A request whose path names no deployment but whose JSON body names a {@code model} (Responses API, Assistants...)
 * gets what a request with the deployment in its path gets: AllowDeployments' allow-list, LimitUsage's budget, the
 * stand-in's name in {@code model}, and a usage record for that deployment. Over real sockets, WireMock as Azure.
 */
class ModelInBodyTest {

    private static final String TEAM_A_KEY = "team-a-key-0123456789";
    private static final String TEAM_B_KEY = "team-b-key-9876543210";
    private static final String API_VERSION = "?api-version=2025-04-01-preview";

    /** Team A may use gpt-35-turbo and the APIs that name no deployment; Team B gpt-4o (1,000 tokens a minute). */
    private static final String CONFIG = """
            clients:
              - name: Team A
                key: %s
                deployments_allowed: [gpt-35-turbo]
                allow_deployment_independent_apis: true
                max_tokens_per_minute_in_k: 100
              - name: Team B
                key: %s
                deployments_allowed: [gpt-4o]
                max_tokens_per_minute_in_k: {gpt-4o: 1}
            plugins:
              - name: AllowDeployments
              - name: LimitUsage
            aoai:
              endpoints:
                - name: Sweden
                  url: %s
                  key: endpoint-secret-key-abcdef
                  virtual_deployments:
                    - name: gpt-4o
                      standins:
                        - name: gpt-4o-paygo
                    - name: gpt-35-turbo
                      standins:
                        - name: gpt-35-turbo-0125
            """;

    private static final String RESPONSE = """
            {"id":"resp_1","object":"response","model":"gpt-4o-2024-08-06","status":"completed",
             "output":[{"type":"message","content":[{"type":"output_text","text":"Hello"}]}],
             "usage":{"input_tokens":12,"output_tokens":30,"total_tokens":42}}""";

    private static final String RESPONSE_STREAM = """
            event: response.created
            data: {"type":"response.created","response":{"id":"resp_2","model":"gpt-4o-2024-08-06","status":"in_progress","usage":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}

            event: response.completed
            data: {"type":"response.completed","response":{"id":"resp_2","model":"gpt-4o-2024-08-06","status":"completed","usage":{"input_tokens":9,"output_tokens":3,"total_tokens":12}}}

            """;

    /** 12:00:15 on some day, in epoch ms: the budget's minute does not end during a test. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_000L);
    private final RecordingPlugin recorder = new RecordingPlugin();
    private WireMockServer azure;
    private ProxyHarness proxy;

    @BeforeEach
    void start() throws Exception {
        azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(urlPathEqualTo("/openai/responses")).willReturn(okJson(RESPONSE)));
        azure.stubFor(post(urlPathEqualTo("/openai/responses")).atPriority(1)
                .withRequestBody(matchingJsonPath("$.stream", equalTo("true")))
                .willReturn(aResponse().withHeader("Content-Type", "text/event-stream").withBody(RESPONSE_STREAM)));
        azure.stubFor(post(urlPathEqualTo("/openai/assistants")).willReturn(okJson("""
                {"id":"asst_1","object":"assistant","model":"gpt-35-turbo-0125"}""")));
        azure.stubFor(get(urlPathEqualTo("/openai/assistants")).willReturn(okJson("{\"object\":\"list\",\"data\":[]}")));
        ProxyConfig config = ConfigLoader.parse(CONFIG.formatted(TEAM_A_KEY, TEAM_B_KEY, azure.baseUrl()));
        proxy = ProxyHarness.start(config, List.of(
                AllowDeployments.create(new PluginContext(config.plugins().get(0), config)),
                LimitUsage.create(new PluginContext(config.plugins().get(1), config), now::get),
                recorder));
    }

    @AfterEach
    void stop() {
        proxy.close();
        azure.stop();
    }

    @Test
    void aResponsesRequestForAModelTheClientMayNotUseGets401AndReachesNoEndpoint() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/responses" + API_VERSION, TEAM_A_KEY,
                "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");

        assertEquals(401, response.statusCode());
        assertError(response, "Unauthorized", "not allowed to use deployment 'gpt-4o'");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void anAssistantOnAModelTheClientMayNotUseIsRefusedThoughItMayUseDeploymentIndependentApis() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/assistants" + API_VERSION, TEAM_A_KEY,
                "{\"model\":\"gpt-4o\",\"instructions\":\"be brief\"}");

        assertEquals(401, response.statusCode());
        assertError(response, "Unauthorized", "not allowed to use deployment 'gpt-4o'");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void anAssistantOnAnAllowedModelGoesToTheStandinWithItsNameInTheBodyAndIsRecorded() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/assistants" + API_VERSION, TEAM_A_KEY,
                "{\"model\":\"gpt-35-turbo\",\"instructions\":\"be brief\"}");

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(urlEqualTo("/openai/assistants" + API_VERSION))
                .withRequestBody(equalToJson("{\"model\":\"gpt-35-turbo-0125\",\"instructions\":\"be brief\"}")));
        UsageRecord record = recorder.await(1).get(0);
        assertEquals("Team A", record.client());
        assertEquals("gpt-35-turbo", record.aoaiVirtualDeployment());
        assertEquals("gpt-35-turbo-0125", record.aoaiStandinDeployment());
    }

    @Test
    void aResponsesRequestIsRecordedWithItsDeploymentAndTheUsageTheAnswerReports() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/responses" + API_VERSION, TEAM_B_KEY,
                "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(urlEqualTo("/openai/responses" + API_VERSION))
                .withRequestBody(equalToJson("{\"model\":\"gpt-4o-paygo\",\"input\":\"hi\"}")));
        UsageRecord record = recorder.await(1).get(0);
        assertEquals("Team B", record.client());
        assertEquals("gpt-4o", record.aoaiVirtualDeployment());
        assertEquals("gpt-4o-paygo", record.aoaiStandinDeployment());
        assertFalse(record.isStreaming());
        assertEquals(List.of(12L, 30L, 42L), List.of(record.promptTokens(), record.completionTokens(),
                record.totalTokens()));
        assertEquals(UsageRecord.UsageSource.REPORTED, record.usageSource());
    }

    @Test
    void aStreamedResponsesRequestIsCountedFromItsResponseCompletedEvent() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/responses" + API_VERSION, TEAM_B_KEY,
                "{\"model\":\"gpt-4o\",\"input\":\"hi\",\"stream\":true}");

        assertEquals(200, response.statusCode());
        assertEquals(RESPONSE_STREAM, response.body());
        azure.verify(postRequestedFor(urlEqualTo("/openai/responses" + API_VERSION))
                .withRequestBody(equalToJson("{\"model\":\"gpt-4o-paygo\",\"input\":\"hi\",\"stream\":true}")));
        UsageRecord record = recorder.await(1).get(0);
        assertEquals("gpt-4o", record.aoaiVirtualDeployment());
        assertTrue(record.isStreaming());
        assertEquals(List.of(9L, 3L, 12L), List.of(record.promptTokens(), record.completionTokens(),
                record.totalTokens()));
        assertEquals(UsageRecord.UsageSource.REPORTED, record.usageSource());
    }

    @Test
    void anAllowedClientIsLimitedByItsBudgetForTheModelInTheBody() throws Exception {
        azure.stubFor(post(urlPathEqualTo("/openai/responses")).atPriority(2).willReturn(okJson("""
                {"id":"resp_3","model":"gpt-4o-2024-08-06","usage":{"input_tokens":1000,"output_tokens":500,"total_tokens":1500}}""")));
        HttpResponse<String> first = proxy.postJson("/openai/responses" + API_VERSION, TEAM_B_KEY,
                "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");
        assertEquals(200, first.statusCode());
        assertEquals(1500, recorder.await(1).get(0).totalTokens());

        HttpResponse<String> second = proxy.postJson("/openai/responses" + API_VERSION, TEAM_B_KEY,
                "{\"model\":\"gpt-4o\",\"input\":\"hi again\"}");

        assertEquals(429, second.statusCode());
        assertError(second, "TooManyRequests", "deployment 'gpt-4o'");
        assertEquals(1, azure.findAll(postRequestedFor(urlPathEqualTo("/openai/responses"))).size());
    }

    @Test
    void aRequestWhoseBodyNamesNoModelStaysDeploymentIndependent() throws Exception {
        HttpResponse<String> allowed = proxy.send(proxy.request("/openai/assistants" + API_VERSION)
                .header("api-key", TEAM_A_KEY).GET().build());
        HttpResponse<String> refused = proxy.send(proxy.request("/openai/assistants" + API_VERSION)
                .header("api-key", TEAM_B_KEY).GET().build());

        assertEquals(200, allowed.statusCode());
        azure.verify(1, getRequestedFor(urlEqualTo("/openai/assistants" + API_VERSION)));
        assertEquals(401, refused.statusCode());
        assertError(refused, "Unauthorized", "may not use APIs that name no deployment");
        UsageRecord record = recorder.await(1).get(0);
        assertEquals(null, record.aoaiVirtualDeployment());
    }

    @Test
    void aModelThatIsNoDeploymentNameAzureAllowsGets400() throws Exception {
        HttpResponse<String> response = proxy.send(proxy.request("/openai/assistants" + API_VERSION)
                .header("api-key", TEAM_A_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4o/../x\"}")).build());

        assertEquals(400, response.statusCode());
        assertError(response, "InvalidDeploymentName", "in the body's model");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void aModelThatIsNoStringGets400() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/responses" + API_VERSION, TEAM_A_KEY,
                "{\"model\":[\"gpt-35-turbo\"],\"input\":\"hi\"}");

        assertEquals(400, response.statusCode());
        assertError(response, "InvalidDeploymentName", "must be a deployment name in quotes");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    private static void assertError(HttpResponse<String> response, String code, String messagePart) throws Exception {
        JsonNode error = Json.MAPPER.readTree(response.body()).path("error");
        assertEquals(code, error.path("code").asText(), response.body());
        assertTrue(error.path("message").asText().contains(messagePart), response.body());
    }
}
