package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.sun.net.httpserver.HttpServer;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Headroom routing end to end: the rate limit an endpoint says it has left ({@code x-ratelimit-remaining-tokens} and
 * {@code -requests}) sends the requests it could not take to the next endpoint before it answers 429.
 */
class HeadroomRoutingTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String UPSTREAM_CHAT = "/openai/deployments/gpt-4o/chat/completions";

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension france = WireMockUpstream.extension();

    private final FakeClock clock = new FakeClock();
    private ProxyHarness proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void startProxy(String headroom) {
        startProxy(sweden.baseUrl(), headroom);
    }

    /** Sweden first, France second, both serving any deployment; {@code headroom} is the aoai.headroom block. */
    private void startProxy(String swedenUrl, String headroom) {
        proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                  - name: France
                    url: %s
                    key: france-key
                %s
                """.formatted(swedenUrl, france.baseUrl(), headroom)), null, List.of(), clock);
    }

    private static void answers(WireMockExtension upstream, String servedBy, String... headers) {
        var answer = okJson("{\"served_by\":\"" + servedBy + "\"}");
        for (int i = 0; i < headers.length; i += 2) {
            answer = answer.withHeader(headers[i], headers[i + 1]);
        }
        upstream.stubFor(post(urlPathEqualTo(UPSTREAM_CHAT)).willReturn(answer));
    }

    private HttpResponse<String> chat(int maxTokens) {
        return proxy.postJson(CHAT, Configs.TEAM_A_KEY,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":" + maxTokens + "}");
    }

    @Test
    void anEndpointThatSaidItHasTooFewTokensLeftIsPassedOverForTheNextOne() {
        startProxy("");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "500", "x-ratelimit-remaining-requests", "99");
        answers(france, "france");

        assertEquals("{\"served_by\":\"sweden\"}", chat(100).body());
        HttpResponse<String> next = chat(1000);

        assertEquals(200, next.statusCode());
        assertEquals("{\"served_by\":\"france\"}", next.body());
        sweden.verify(1, postRequestedFor(urlPathEqualTo(UPSTREAM_CHAT)));
    }

    @Test
    void aSmallRequestStillGoesToAnEndpointWithEnoughLeftForIt() {
        startProxy("");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "500");
        answers(france, "france");

        chat(100);

        assertEquals("{\"served_by\":\"sweden\"}", chat(50).body());
    }

    @Test
    void aRequestWithoutMaxTokensIsTakenToNeedTheDefaultCompletionBound() {
        startProxy("headroom: {default_completion_tokens: 400}");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "450");
        answers(france, "france");
        String unbounded = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

        proxy.postJson(CHAT, Configs.TEAM_A_KEY, unbounded);
        assertEquals("{\"served_by\":\"sweden\"}", proxy.postJson(CHAT, Configs.TEAM_A_KEY, unbounded).body());
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "350");
        proxy.postJson(CHAT, Configs.TEAM_A_KEY, unbounded);

        assertEquals("{\"served_by\":\"france\"}", proxy.postJson(CHAT, Configs.TEAM_A_KEY, unbounded).body());
    }

    @Test
    void anEndpointWithNoRequestsLeftIsPassedOverWhateverItsTokens() {
        startProxy("");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "90000", "x-ratelimit-remaining-requests", "0");
        answers(france, "france");

        chat(1);

        assertEquals("{\"served_by\":\"france\"}", chat(1).body());
    }

    @Test
    void theFloorPassesOverAnEndpointForEveryRequest() {
        startProxy("headroom: {min_remaining_tokens: 2000}");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "1500");
        answers(france, "france");

        chat(1);

        assertEquals("{\"served_by\":\"france\"}", chat(1).body());
    }

    @Test
    void whenEveryEndpointIsShortTheOneWithTheMostLeftServesRatherThanA429() {
        startProxy("");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "100");
        answers(france, "france", "x-ratelimit-remaining-tokens", "300");
        chat(10);
        chat(500);

        HttpResponse<String> response = chat(1000);

        assertEquals(200, response.statusCode());
        assertEquals("{\"served_by\":\"france\"}", response.body());
        france.verify(2, postRequestedFor(urlPathEqualTo(UPSTREAM_CHAT)));
    }

    @Test
    void anEndpointIsUsedAgainOnceTheResetItNamedHasPassed() {
        startProxy("");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "5");
        answers(france, "france");
        chat(10);
        assertEquals("{\"served_by\":\"france\"}", chat(10).body());

        clock.advance(Duration.ofMillis(5000));

        assertEquals("{\"served_by\":\"sweden\"}", chat(10).body());
    }

    @Test
    void withoutAResetHeaderTheCountHoldsForTheConfiguredWindow() {
        startProxy("headroom: {window_seconds: 20}");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "0");
        answers(france, "france");
        chat(10);

        clock.advance(Duration.ofMillis(19_999));
        assertEquals("{\"served_by\":\"france\"}", chat(10).body());
        clock.advance(Duration.ofMillis(1));

        assertEquals("{\"served_by\":\"sweden\"}", chat(10).body());
    }

    @Test
    void switchedOffTheEndpointsAreTriedInPriorityOrderWhateverTheySayIsLeft() {
        startProxy("headroom: {enabled: false}");
        answers(sweden, "sweden", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-remaining-requests", "0");
        answers(france, "france");
        chat(10);

        assertEquals("{\"served_by\":\"sweden\"}", chat(10).body());
    }

    @Test
    void requestsThatNameNoDeploymentStayOnTheFirstEndpointWhateverItHasLeft() {
        startProxy("");
        sweden.stubFor(post(urlPathEqualTo("/openai/files")).willReturn(okJson("{\"served_by\":\"sweden\"}")
                .withHeader("x-ratelimit-remaining-tokens", "0").withHeader("x-ratelimit-remaining-requests", "0")));

        proxy.postJson("/openai/files?api-version=2024-10-21", Configs.TEAM_A_KEY, "{}");

        assertEquals("{\"served_by\":\"sweden\"}",
                proxy.postJson("/openai/files?api-version=2024-10-21", Configs.TEAM_A_KEY, "{}").body());
    }

    @Test
    void requestsInFlightCountAgainstWhatTheEndpointLastSaidWasLeft() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger arrived = new AtomicInteger();
        HttpServer held = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        held.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        held.createContext("/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                if (arrived.incrementAndGet() > 1) {
                    release.await();
                }
                byte[] body = "{\"served_by\":\"sweden\"}".getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                // Room for two requests of about 1,010 tokens (1,000 completion, a short prompt), not three.
                exchange.getResponseHeaders().set("x-ratelimit-remaining-tokens", "2500");
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        held.start();
        try {
            startProxy("http://127.0.0.1:" + held.getAddress().getPort() + "/", "");
            answers(france, "france");
            chat(10);

            List<Future<HttpResponse<String>>> concurrent = new ArrayList<>();
            try (var threads = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 5; i++) {
                    concurrent.add(threads.submit(() -> chat(1000)));
                }
                Await.until("three requests served by France while two wait at Sweden",
                        () -> "Sweden " + (arrived.get() - 1) + ", France " + france.getAllServeEvents().size(),
                        () -> france.getAllServeEvents().size() == 3 && arrived.get() == 3);
                release.countDown();
                for (Future<HttpResponse<String>> response : concurrent) {
                    assertEquals(200, response.get().statusCode());
                }
            }
            assertEquals(3, arrived.get(), "requests Sweden received, the first included");
        } finally {
            release.countDown();
            held.stop(0);
        }
    }
}
