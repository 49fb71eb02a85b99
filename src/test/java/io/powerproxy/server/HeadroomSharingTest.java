package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.budgets.RedisBulletin;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RedisServer;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;

/**
 * Two replicas and one real Redis: a block one replica's answer made, and a low count it saw, steer the other replica,
 * also one that starts later; without Redis each replica still routes on what it learns itself.
 */
class HeadroomSharingTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String UPSTREAM_CHAT = "/openai/deployments/gpt-4o/chat/completions";
    private static final String SWEDEN = "{\"served_by\":\"sweden\"}";
    private static final String FRANCE = "{\"served_by\":\"france\"}";

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension france = WireMockUpstream.extension();

    private static RedisServer redis;
    private final List<ProxyHarness> replicas = new ArrayList<>();
    private String prefix;

    @BeforeAll
    static void startRedis() {
        redis = RedisServer.start();
    }

    @AfterAll
    static void stopRedis() {
        redis.close();
    }

    @BeforeEach
    void stubs() {
        prefix = "test" + ThreadLocalRandom.current().nextInt(1_000_000);
        sweden.stubFor(post(urlPathEqualTo(UPSTREAM_CHAT)).willReturn(okJson(SWEDEN)));
        // A request with "x-trigger: 429" is throttled, as if its replica had used up the deployment.
        sweden.stubFor(post(urlPathEqualTo(UPSTREAM_CHAT)).withHeader("x-trigger", equalTo("429")).atPriority(1)
                .willReturn(aResponse().withStatus(429).withHeader("retry-after", "30")
                        .withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"code\":\"429\",\"message\":\"Rate limit is exceeded.\"}}")));
        // One with "x-trigger: low" is served, with little left after it.
        sweden.stubFor(post(urlPathEqualTo(UPSTREAM_CHAT)).withHeader("x-trigger", equalTo("low")).atPriority(1)
                .willReturn(okJson(SWEDEN).withHeader("x-ratelimit-remaining-tokens", "100")));
        france.stubFor(post(urlPathEqualTo(UPSTREAM_CHAT)).willReturn(okJson(FRANCE)));
    }

    @AfterEach
    void stopReplicas() {
        replicas.forEach(ProxyHarness::close);
    }

    private ProxyHarness replica(int redisPort) {
        ProxyHarness replica = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                  - name: France
                    url: %s
                    key: france-key
                headroom:
                  redis:
                    redis_host: 127.0.0.1
                    redis_port: %d
                    redis_ssl: false
                    redis_timeout_ms: 5000
                  redis_key_prefix: %s
                """.formatted(sweden.baseUrl(), france.baseUrl(), redisPort, prefix)));
        replicas.add(replica);
        return replica;
    }

    private static HttpResponse<String> chat(ProxyHarness replica, String trigger) {
        HttpRequest.Builder request = replica.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                        + "\"max_tokens\":500}"));
        if (trigger != null) {
            request.header("x-trigger", trigger);
        }
        return replica.send(request.build());
    }

    private void awaitSubscribers(int count) {
        Await.until(count + " replicas subscribed to " + prefix + ":headroom", () -> {
            try (Jedis client = redis.client()) {
                return client.pubsubNumSub(prefix + ":headroom").get(prefix + ":headroom") == count;
            }
        });
    }

    @Test
    void aBlockOneReplicaGetsStopsTheOtherSendingThereWithinAbout100Milliseconds() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            ProxyHarness a = replica(redis.port());
            ProxyHarness b = replica(redis.port());
            awaitSubscribers(2);
            assertEquals(SWEDEN, chat(b, null).body());

            assertEquals(FRANCE, chat(a, "429").body());
            long answered = System.nanoTime();
            int toSweden = 0;
            while (!chat(b, null).body().equals(FRANCE)) {
                toSweden++;
                assertTrue(System.nanoTime() - answered < Duration.ofSeconds(10).toNanos(),
                        "replica B still sends to Sweden 10 s after A's 429");
            }

            // Both replicas log to the same clock: A when its answer blocked Sweden, B when it heard of it.
            List<Instant> blocked = logs.times("Sweden answered 429: blocked for");
            List<Instant> heard = logs.times("as another replica was told by its answer");
            assertEquals(1, blocked.size(), "A blocks Sweden once");
            assertEquals(1, heard.size(), "B hears of it once");
            long millis = Duration.between(blocked.get(0), heard.get(0)).toMillis();
            System.out.printf("headroom sharing: replica B heard of replica A's 429 %d ms after A got it; B sent %d"
                    + " more requests to Sweden meanwhile%n", millis, toSweden);
            assertTrue(millis < 1000, "propagation took " + millis + " ms");
            sweden.verify(1, postRequestedFor(urlPathEqualTo(UPSTREAM_CHAT)).withHeader("x-trigger", equalTo("429")));
        }
    }

    @Test
    void aReplicaThatStartsLaterLearnsTheBlocksInForce() {
        ProxyHarness a = replica(redis.port());
        assertEquals(FRANCE, chat(a, "429").body());
        Await.until("A's block is kept in Redis", () -> {
            try (Jedis client = redis.client()) {
                return !client.keys(prefix + ":headroom:blocked:*").isEmpty();
            }
        });

        ProxyHarness late = replica(redis.port());

        Await.until("the late replica sends to France", () -> chat(late, null).body().equals(FRANCE));
    }

    @Test
    void aLowCountOneReplicaSawSteersTheOther() {
        ProxyHarness a = replica(redis.port());
        ProxyHarness b = replica(redis.port());
        awaitSubscribers(2);
        assertEquals(SWEDEN, chat(b, null).body());

        assertEquals(SWEDEN, chat(a, "low").body());

        Await.until("replica B sends to France", () -> chat(b, null).body().equals(FRANCE));
        assertEquals(0, sweden.findAll(postRequestedFor(urlPathEqualTo(UPSTREAM_CHAT))
                .withHeader("x-trigger", equalTo("429"))).size(), "nothing was throttled");
    }

    @Test
    void withRedisDownEveryReplicaKeepsRoutingOnWhatItLearnsItselfAndTheOutageIsLoggedOnce() {
        try (ClosedPort closed = ClosedPort.hold(); CapturedLogs logs = CapturedLogs.start()) {
            ProxyHarness a = replica(closed.port());

            assertEquals(FRANCE, chat(a, "429").body());
            assertEquals(FRANCE, chat(a, null).body());
            Await.until("the outage is logged", () -> !logs.messages(RedisBulletin.class, Level.WARN).isEmpty());
            String warning = logs.messages(RedisBulletin.class, Level.WARN).get(0);
            assertTrue(warning.contains("Redis at 127.0.0.1:" + closed.port() + " unavailable"), warning);
            assertTrue(warning.contains("each replica routes on what it learns itself"), warning);
            assertFalse(warning.contains("sweden-key"), warning);
        }
    }
}
