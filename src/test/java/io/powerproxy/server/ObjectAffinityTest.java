package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.delete;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.json.Json;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Calls on files, threads, responses and other objects reach the endpoint that created the object, whichever the
 * balancer picked for the creation, while stateless calls keep being balanced (README "Objects stay with their
 * endpoint"). Three endpoints, each a different resource, each answering with its own name in {@code served_by}.
 */
class ObjectAffinityTest {

    private static final String API = "?api-version=2025-04-01-preview";
    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions" + API;

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension eastUs = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension westUs = WireMockUpstream.extension();

    private final FakeClock clock = new FakeClock();
    private ProxyHarness proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void startProxy(String affinitySetting) {
        proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                    priority: 0
                  - name: EastUS
                    url: %s
                    key: eastus-key
                    priority: 0
                  - name: WestUS
                    url: %s
                    key: westus-key
                    priority: 0
                %s
                """.formatted(sweden.baseUrl(), eastUs.baseUrl(), westUs.baseUrl(), affinitySetting)), null, List.of(),
                clock);
        stubEveryEndpoint();
    }

    private static Map<String, WireMockExtension> endpoints() {
        return Map.of("sweden", sweden, "eastus", eastUs, "westus", westUs);
    }

    /** Each endpoint creates files and responses with ids of its own, serves any object asked for, and chats. */
    private static void stubEveryEndpoint() {
        endpoints().forEach((name, endpoint) -> {
            endpoint.stubFor(post(urlPathEqualTo("/openai/files"))
                    .willReturn(okJson("{\"object\":\"file\",\"bytes\":12,\"filename\":\"batch.jsonl\",\"id\":\"file-"
                            + name + "\",\"served_by\":\"" + name + "\"}")));
            endpoint.stubFor(get(urlPathMatching("/openai/files/[^/]+(/content)?"))
                    .willReturn(okJson("{\"object\":\"file\",\"served_by\":\"" + name + "\"}")));
            endpoint.stubFor(delete(urlPathMatching("/openai/files/[^/]+"))
                    .willReturn(okJson("{\"deleted\":true,\"served_by\":\"" + name + "\"}")));
            endpoint.stubFor(post(urlPathEqualTo("/openai/v1/responses"))
                    .willReturn(okJson("{\"id\":\"resp_" + name + "\",\"object\":\"response\",\"output\":[{\"id\":"
                            + "\"msg_1\"}],\"served_by\":\"" + name + "\"}")));
            endpoint.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                    .willReturn(okJson("{\"id\":\"chatcmpl-1\",\"served_by\":\"" + name + "\"}")));
        });
    }

    private static String servedBy(HttpResponse<String> response) {
        try {
            JsonNode json = Json.MAPPER.readTree(response.body());
            return json.path("served_by").asText(response.statusCode() + " " + response.body());
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + response.statusCode() + " " + response.body(), e);
        }
    }

    private static com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder throttled(String retryAfterMs) {
        return aResponse().withStatus(429).withHeader("Content-Type", "application/json")
                .withHeader("retry-after-ms", retryAfterMs)
                .withBody("{\"error\":{\"code\":\"429\",\"message\":\"Rate limit is exceeded.\"}}");
    }

    private HttpResponse<String> uploadFile() {
        return proxy.send(proxy.request("/openai/files" + API).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "multipart/form-data; boundary=b")
                .POST(HttpRequest.BodyPublishers.ofString("--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                        + "batch\r\n--b--\r\n"))
                .build());
    }

    private HttpResponse<String> call(String method, String pathAndQuery) {
        return proxy.send(proxy.request(pathAndQuery).header("api-key", Configs.TEAM_A_KEY)
                .method(method, HttpRequest.BodyPublishers.noBody()).build());
    }

    /** Sweden, first by priority, is throttled while the file is uploaded: it lands at East US. */
    private String fileCreatedAtEastUs() {
        sweden.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(throttled("1000")));
        HttpResponse<String> created = uploadFile();
        assertEquals(200, created.statusCode(), created.body());
        assertEquals("eastus", servedBy(created));
        clock.advance(Duration.ofMillis(1001));
        return "file-eastus";
    }

    private static int gets(WireMockExtension endpoint, String path) {
        return endpoint.findAll(getRequestedFor(urlPathEqualTo(path))).size();
    }

    @Test
    void twentyCallsOnAFileReachTheEndpointThatCreatedItWhileChatKeepsSpreading() {
        startProxy("");
        String file = fileCreatedAtEastUs();

        for (int i = 0; i < 20; i++) {
            String path = i % 2 == 0 ? "/openai/files/" + file : "/openai/files/" + file + "/content";
            HttpResponse<String> response = call("GET", path + API);
            assertEquals(200, response.statusCode(), response.body());
            assertEquals("eastus", servedBy(response), "call " + i);
        }
        Map<String, Integer> chats = new HashMap<>();
        for (int i = 0; i < 30; i++) {
            chats.merge(servedBy(proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{\"messages\":[]}")), 1, Integer::sum);
        }

        assertEquals(0, gets(sweden, "/openai/files/" + file) + gets(westUs, "/openai/files/" + file));
        assertEquals(20, eastUs.findAll(getRequestedFor(urlPathMatching("/openai/files/.*"))).size());
        assertTrue(chats.size() >= 2, "chat calls are still balanced over the endpoints: " + chats);
    }

    @Test
    void aResponsesCallWithPreviousResponseIdReachesTheEndpointThatCreatedTheResponse() throws Exception {
        startProxy("");
        for (int i = 0; i < 12; i++) {
            HttpResponse<String> first = proxy.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                    "{\"model\":\"gpt-4o\",\"input\":\"Hi\"}");
            String creator = servedBy(first);
            String id = Json.MAPPER.readTree(first.body()).path("id").asText();

            HttpResponse<String> next = proxy.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                    "{\"model\":\"gpt-4o\",\"input\":\"And then?\",\"previous_response_id\":\"" + id + "\"}");

            assertEquals(200, next.statusCode(), next.body());
            assertEquals(creator, servedBy(next), "round " + i);
        }
    }

    @Test
    void aStreamedResponseIsRememberedFromItsResponseCreatedEventAndItsFollowUpsReachItsEndpoint() throws Exception {
        startProxy("");
        endpoints().forEach((name, endpoint) -> endpoint.stubFor(post(urlPathEqualTo("/openai/v1/responses"))
                .willReturn(aResponse().withHeader("Content-Type", "text/event-stream").withBody("""
                        event: response.created
                        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_s_%s","object":"response","status":"in_progress"}}

                        event: response.output_text.delta
                        data: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hi from %s"}

                        event: response.completed
                        data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_s_%s","status":"completed"}}

                        """.formatted(name, name, name)))));
        for (int i = 0; i < 8; i++) {
            HttpResponse<String> streamed = proxy.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                    "{\"model\":\"gpt-4o\",\"input\":\"Hi\",\"stream\":true}");
            String creator = streamed.body().replaceAll("(?s).*\"resp_s_([a-z]+)\".*", "$1");

            HttpResponse<String> next = proxy.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                    "{\"model\":\"gpt-4o\",\"input\":\"More\",\"stream\":true,\"previous_response_id\":\"resp_s_"
                            + creator + "\"}");

            assertTrue(next.body().contains("Hi from " + creator), "round " + i + ": " + next.body());
        }
    }

    @Test
    void whileTheOwnerIsThrottledItsAnswerIsPassedOnAndThen503WithoutAskingAnotherEndpoint() {
        startProxy("");
        String file = fileCreatedAtEastUs();
        eastUs.stubFor(get(urlPathEqualTo("/openai/files/" + file)).willReturn(throttled("5000")));

        HttpResponse<String> throttledAnswer = call("GET", "/openai/files/" + file + API);
        HttpResponse<String> blocked = call("GET", "/openai/files/" + file + API);

        assertEquals(429, throttledAnswer.statusCode(), "the owner's own answer: " + throttledAnswer.body());
        assertEquals("5000", throttledAnswer.headers().firstValue("retry-after-ms").orElse(null));
        assertEquals(503, blocked.statusCode(), blocked.body());
        assertEquals("{\"error\":{\"code\":\"OwnerEndpointUnavailable\",\"message\":\"Object 'file-eastus' lives at"
                + " endpoint 'EastUS', which is throttled, failing or busy right now; the call is not sent to another"
                + " endpoint, which cannot know the object. Retry after 5000 ms.\"}}", blocked.body());
        assertEquals("5", blocked.headers().firstValue("retry-after").orElse(null));
        assertEquals(1, gets(eastUs, "/openai/files/" + file));
        assertEquals(0, gets(sweden, "/openai/files/" + file) + gets(westUs, "/openai/files/" + file));
    }

    @Test
    void anUnknownIdIsLookedForEndpointByEndpointUntilOneDoesNotAnswer404AndIsThenRemembered() {
        startProxy("");
        String path = "/openai/files/file-made-before";
        sweden.stubFor(get(urlPathEqualTo(path)).willReturn(aResponse().withStatus(404)
                .withHeader("Content-Type", "application/json").withBody("{\"error\":{\"code\":\"404\"}}")));
        eastUs.stubFor(get(urlPathEqualTo(path)).willReturn(aResponse().withStatus(404)
                .withHeader("Content-Type", "application/json").withBody("{\"error\":{\"code\":\"404\"}}")));

        HttpResponse<String> found = call("GET", path + API);
        HttpResponse<String> again = call("GET", path + API);

        assertEquals("westus", servedBy(found));
        assertEquals("westus", servedBy(again));
        assertEquals(1, gets(sweden, path));
        assertEquals(1, gets(eastUs, path));
        assertEquals(2, gets(westUs, path));
    }

    @Test
    void anIdNoEndpointKnowsGetsTheLast404() {
        startProxy("");
        String path = "/openai/files/file-nowhere";
        endpoints().forEach((name, endpoint) -> endpoint.stubFor(get(urlPathEqualTo(path)).willReturn(aResponse()
                .withStatus(404).withHeader("Content-Type", "application/json")
                .withBody("{\"error\":{\"message\":\"not at " + name + "\"}}"))));

        HttpResponse<String> response = call("GET", path + API);

        assertEquals(404, response.statusCode());
        assertEquals("{\"error\":{\"message\":\"not at westus\"}}", response.body());
        assertEquals(List.of(1, 1, 1), List.of(gets(sweden, path), gets(eastUs, path), gets(westUs, path)));
    }

    @Test
    void deletingAnObjectForgetsItsOwner() {
        startProxy("");
        String file = fileCreatedAtEastUs();

        HttpResponse<String> deleted = call("DELETE", "/openai/files/" + file + API);
        HttpResponse<String> after = call("GET", "/openai/files/" + file + API);

        assertEquals("eastus", servedBy(deleted));
        assertEquals("sweden", servedBy(after), "an unknown id is looked for from the first endpoint again");
    }

    @Test
    void switchedOffEveryCallIsRoutedAsBefore() {
        startProxy("object_affinity: false");
        String file = fileCreatedAtEastUs();

        HttpResponse<String> response = call("GET", "/openai/files/" + file + API);

        assertEquals("sweden", servedBy(response), "calls without a deployment go to the first endpoint, as before");
    }

    @Test
    void aHugeOrHostileIdIsNeitherRememberedNorLoggedAndTheCallIsRoutedAsAStatelessOne() {
        String huge = "resp_" + "x".repeat(10_000);
        try (CapturedLogs logs = CapturedLogs.start()) {
            startProxy("");
            eastUs.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(okJson("{\"id\":\"" + huge
                    + "\",\"served_by\":\"eastus\"}")));
            sweden.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(throttled("1000")));
            assertEquals(200, uploadFile().statusCode());
            clock.advance(Duration.ofMillis(1001));
            sweden.stubFor(get(urlPathMatching("/openai/files/.*")).willReturn(aResponse().withStatus(404)));

            HttpResponse<String> hugeReference = proxy.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                    "{\"model\":\"gpt-4o\",\"input\":\"Hi\",\"previous_response_id\":\"" + huge + "\"}");
            HttpResponse<String> controlCharacters = call("GET", "/openai/files/"
                    + URLEncoder.encode("file-\u0001\n-forged", StandardCharsets.UTF_8) + API);
            HttpResponse<String> hugeInPath = call("GET", "/openai/files/" + huge + API);

            assertEquals(200, hugeReference.statusCode(), hugeReference.body());
            assertEquals(404, controlCharacters.statusCode(), "routed as without affinity: Sweden's answer, no search");
            assertEquals(404, hugeInPath.statusCode(), hugeInPath.body());
            // The access log shows the path, escaped and as the client sent it; nothing else shows the ids.
            assertTrue(logs.lines().stream().filter(line -> !line.contains("io.powerproxy.access"))
                    .noneMatch(line -> line.contains("x".repeat(200)) || line.contains("\u0001")),
                    String.join("\n", logs.lines()));
        }
    }

    @Test
    void aRunOnAThreadReachesTheThreadsEndpointAndAnAssistantIdInANewRunDoesToo() {
        startProxy("");
        sweden.stubFor(post(urlPathEqualTo("/openai/threads")).willReturn(throttled("1000")));
        eastUs.stubFor(post(urlPathEqualTo("/openai/threads"))
                .willReturn(okJson("{\"id\":\"thread_e1\",\"object\":\"thread\",\"metadata\":{\"id\":\"no\"}}")));
        westUs.stubFor(post(urlPathEqualTo("/openai/assistants"))
                .willReturn(okJson("{\"object\":\"assistant\",\"tools\":[{\"id\":\"x\"}],\"id\":\"asst_w1\"}")));
        endpoints().forEach((name, endpoint) -> endpoint.stubFor(post(urlPathMatching("/openai/threads/.*runs"))
                .willReturn(okJson("{\"id\":\"run_1\",\"thread_id\":\"thread_" + name + "\",\"served_by\":\"" + name
                        + "\"}"))));

        assertEquals(200, proxy.postJson("/openai/threads" + API, Configs.TEAM_A_KEY, "{}").statusCode());
        sweden.stubFor(post(urlPathEqualTo("/openai/assistants")).willReturn(throttled("1000")));
        eastUs.stubFor(post(urlPathEqualTo("/openai/assistants")).willReturn(throttled("1000")));
        assertEquals(200, proxy.postJson("/openai/assistants" + API, Configs.TEAM_A_KEY, "{}").statusCode());
        clock.advance(Duration.ofMillis(1001));

        HttpResponse<String> run = proxy.postJson("/openai/threads/thread_e1/runs" + API, Configs.TEAM_A_KEY,
                "{\"assistant_id\":\"asst_w1\"}");
        HttpResponse<String> newThreadRun = proxy.postJson("/openai/threads/runs" + API, Configs.TEAM_A_KEY,
                "{\"assistant_id\":\"asst_w1\"}");

        assertEquals("eastus", servedBy(run), "the thread in the path decides");
        assertEquals("westus", servedBy(newThreadRun), "the assistant in the body decides");
        call("GET", "/openai/threads/thread_westus" + API);
        assertEquals(List.of(0, 1), List.of(gets(sweden, "/openai/threads/thread_westus"),
                gets(westUs, "/openai/threads/thread_westus")),
                "the new thread of the run was remembered from the answer's thread_id");
        assertEquals(0, sweden.findAll(postRequestedFor(urlPathMatching("/openai/threads/.+"))).size());
    }
}
