package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.json.Json;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RedisServer;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;

/**
 * Two proxy replicas sharing one real Redis for object owners: an object created through one is followed up through
 * the other at its owner, and a Redis that goes away leaves each replica with what it remembers itself.
 */
class ObjectAffinityWithRedisTest {

    private static final String API = "?api-version=2025-04-01-preview";

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension eastUs = WireMockUpstream.extension();

    private final FakeClock clockA = new FakeClock();
    private final FakeClock clockB = new FakeClock();

    private static String config(int redisPort, String eastUsName) {
        return Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                    priority: 0
                  - name: %s
                    url: %s
                    key: eastus-key
                    priority: 0
                object_affinity:
                  redis:
                    redis_host: 127.0.0.1
                    redis_port: %d
                    redis_ssl: false
                """.formatted(sweden.baseUrl(), eastUsName, eastUs.baseUrl(), redisPort));
    }

    private static void stubEndpoints() {
        Map.of("sweden", sweden, "eastus", eastUs).forEach((name, endpoint) -> {
            endpoint.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(okJson("{\"id\":\"file-" + name
                    + "\",\"object\":\"file\",\"served_by\":\"" + name + "\"}")));
            endpoint.stubFor(get(urlPathMatching("/openai/files/.+")).willReturn(okJson("{\"served_by\":\"" + name
                    + "\"}")));
            endpoint.stubFor(post(urlPathEqualTo("/openai/v1/responses")).willReturn(okJson("{\"id\":\"resp_" + name
                    + "\",\"object\":\"response\",\"served_by\":\"" + name + "\"}")));
        });
    }

    private static HttpResponse<String> uploadFile(ProxyHarness proxy) {
        return proxy.send(proxy.request("/openai/files" + API).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofString("{}\n")).build());
    }

    private static HttpResponse<String> fetch(ProxyHarness proxy, String path) {
        return proxy.send(proxy.request(path + API).header("api-key", Configs.TEAM_A_KEY).GET().build());
    }

    private static String servedBy(HttpResponse<String> response) throws Exception {
        return Json.MAPPER.readTree(response.body()).path("served_by").asText(response.statusCode() + " "
                + response.body());
    }

    /** What the store of object owners logged at a level. */
    private static List<String> ownersLog(CapturedLogs logs, String level) {
        String prefix = level + " io.powerproxy.affinity.ObjectOwners - ";
        return logs.lines().stream().filter(line -> line.startsWith(prefix))
                .map(line -> line.substring(prefix.length())).toList();
    }

    /** Replica A uploads while Sweden throttles it: the file lands at East US. */
    private void fileCreatedAtEastUsThrough(ProxyHarness a) throws Exception {
        sweden.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(aResponse().withStatus(429)
                .withHeader("retry-after-ms", "1000")));
        assertEquals("eastus", servedBy(uploadFile(a)));
        clockA.advance(Duration.ofMillis(1001));
    }

    @Test
    void replicaBSendsCallsOnAFileCreatedThroughReplicaAToItsOwner() throws Exception {
        try (RedisServer redis = RedisServer.start();
                ProxyHarness a = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockA);
                ProxyHarness b = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockB)) {
            stubEndpoints();
            fileCreatedAtEastUsThrough(a);

            for (int i = 0; i < 5; i++) {
                assertEquals("eastus", servedBy(fetch(b, "/openai/files/file-eastus")));
            }

            assertEquals(0, sweden.findAll(getRequestedFor(urlPathEqualTo("/openai/files/file-eastus"))).size());
            try (Jedis jedis = redis.client()) {
                assertEquals("EastUS", jedis.get("powerproxy:owner:file-eastus"));
                long ttl = jedis.pttl("powerproxy:owner:file-eastus");
                assertTrue(ttl > Duration.ofDays(29).toMillis() && ttl <= Duration.ofDays(30).toMillis(), "ttl " + ttl);
            }
        }
    }

    @Test
    void aResponseCreatedThroughReplicaAIsContinuedThroughReplicaBAtItsEndpoint() throws Exception {
        try (RedisServer redis = RedisServer.start();
                ProxyHarness a = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockA);
                ProxyHarness b = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockB)) {
            stubEndpoints();
            for (int i = 0; i < 10; i++) {
                // A new id each round: replica B must learn it from Redis, not from an answer it passed on before.
                int round = i;
                Map.of("sweden", sweden, "eastus", eastUs).forEach((name, endpoint) -> endpoint.stubFor(
                        post(urlPathEqualTo("/openai/v1/responses")).willReturn(okJson("{\"id\":\"resp_" + name + "_"
                                + round + "\",\"object\":\"response\",\"served_by\":\"" + name + "\"}"))));
                HttpResponse<String> first = a.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                        "{\"model\":\"gpt-4o\",\"input\":\"Hi\"}");
                String creator = servedBy(first);

                HttpResponse<String> next = b.postJson("/openai/v1/responses", Configs.TEAM_A_KEY,
                        "{\"model\":\"gpt-4o\",\"input\":\"More\",\"previous_response_id\":\"resp_" + creator + "_"
                                + i + "\"}");

                assertEquals(creator, servedBy(next), "round " + i);
            }
        }
    }

    @Test
    void whileRedisIsDownOwnersAreRememberedByEachReplicaAndTheOutageIsLoggedOnce() throws Exception {
        try (RedisServer redis = RedisServer.start();
                CapturedLogs logs = CapturedLogs.start();
                ProxyHarness a = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockA)) {
            stubEndpoints();
            redis.kill();
            for (int i = 0; i < 5; i++) {
                // Ids nobody remembers are looked up in Redis, which fails: three failures in a row make an outage.
                assertEquals("sweden", servedBy(fetch(a, "/openai/files/file-unknown-" + i)));
            }

            fileCreatedAtEastUsThrough(a);
            for (int i = 0; i < 10; i++) {
                HttpResponse<String> response = fetch(a, "/openai/files/file-eastus");
                assertEquals("eastus", servedBy(response), "call " + i);
            }

            List<String> warnings = ownersLog(logs, "WARN");
            assertEquals(1, warnings.size(), String.join("\n", logs.lines()));
            assertTrue(warnings.get(0).startsWith("Redis at 127.0.0.1:" + redis.port() + " unavailable ("),
                    warnings.get(0));
            assertTrue(warnings.get(0).endsWith("object owners are remembered by this replica only until it answers"
                    + " again"), warnings.get(0));

            redis.restart();
            Await.until("the replica uses Redis again", () -> {
                fetch(a, "/openai/files/file-" + System.nanoTime());
                return !ownersLog(logs, "INFO").isEmpty();
            });
        }
    }

    @Test
    void anOwnerRememberedUnderAnEndpointNameThisReplicaDoesNotHaveIsLookedForAsAnUnknownObject() throws Exception {
        try (RedisServer redis = RedisServer.start();
                ProxyHarness a = ProxyHarness.start(config(redis.port(), "EastUS"), null, List.of(), clockA);
                ProxyHarness b = ProxyHarness.start(config(redis.port(), "EastUS-2"), null, List.of(), clockB)) {
            stubEndpoints();
            fileCreatedAtEastUsThrough(a);
            sweden.stubFor(get(urlPathEqualTo("/openai/files/file-eastus")).willReturn(aResponse().withStatus(404)));

            HttpResponse<String> response = fetch(b, "/openai/files/file-eastus");

            assertEquals("eastus", servedBy(response));
            try (Jedis jedis = redis.client()) {
                assertEquals("EastUS-2", jedis.get("powerproxy:owner:file-eastus"), "learned anew under its new name");
            }
        }
    }
}
