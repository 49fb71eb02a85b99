package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.CountingUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Weights, non-streaming fractions and connection limits hold under many concurrent requests. */
class BalancingUnderLoadTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    /** Sends {@code count} requests, {@code concurrency} at a time, and returns every response. */
    private static List<HttpResponse<String>> sendAll(int count, int concurrency, IntFunction<HttpResponse<String>> send)
            throws Exception {
        List<HttpResponse<String>> responses = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(concurrency, Thread.ofVirtual().factory())) {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int n = i;
                futures.add(pool.submit(() -> send.apply(n)));
            }
            for (Future<HttpResponse<String>> future : futures) {
                responses.add(future.get(60, TimeUnit.SECONDS));
            }
        }
        return responses;
    }

    @Test
    void weightsThreeToOneSplitRequestsThreeToOne() throws Exception {
        try (CountingUpstream big = CountingUpstream.start("big", Duration.ZERO, 0, 0);
                CountingUpstream small = CountingUpstream.start("small", Duration.ZERO, 0, 0);
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                        endpoints:
                          - name: Big
                            url: %s
                            key: k1
                            priority: 0
                            weight: 3
                          - name: Small
                            url: %s
                            key: k2
                            priority: 0
                            weight: 1
                        """.formatted(big.baseUrl(), small.baseUrl())))) {

            List<HttpResponse<String>> responses = sendAll(4000, 16,
                    i -> proxy.send(FailoverTest.chatRequest(proxy, false).build()));

            assertTrue(responses.stream().allMatch(r -> r.statusCode() == 200));
            assertEquals(4000, big.served() + small.served());
            assertEquals(0.75, big.served() / 4000.0, 0.03, "big served " + big.served());
        }
    }

    @Test
    void aStandinWithNonStreamingFractionTakesThatShareOfNonStreamingAndAllStreamingRequests() throws Exception {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{}")));
        try (ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: k1
                    virtual_deployments:
                      - name: gpt-4o
                        standins:
                          - name: gpt-4o-ptu
                            non_streaming_fraction: 0.2
                          - name: gpt-4o-paygo
                """.formatted(azure.baseUrl())))) {
            String ptu = "/openai/deployments/gpt-4o-ptu/chat/completions";
            String paygo = "/openai/deployments/gpt-4o-paygo/chat/completions";

            sendAll(1000, 8, i -> proxy.send(FailoverTest.chatRequest(proxy, false).build()));
            int ptuNonStreaming = azure.findAll(postRequestedFor(urlPathEqualTo(ptu))).size();
            sendAll(200, 8, i -> proxy.send(FailoverTest.chatRequest(proxy, true).build()));
            int ptuAll = azure.findAll(postRequestedFor(urlPathEqualTo(ptu))).size();

            assertEquals(0.2, ptuNonStreaming / 1000.0, 0.05, "PTU took " + ptuNonStreaming + " of 1000");
            assertEquals(1000 - ptuNonStreaming, azure.findAll(postRequestedFor(urlPathEqualTo(paygo))).size());
            assertEquals(ptuNonStreaming + 200, ptuAll, "every streaming request goes to the PTU");
        }
    }

    @Test
    void maxConnectionsBoundsTheRequestsInFlightToAnEndpoint() throws Exception {
        try (CountingUpstream slow = CountingUpstream.start("slow", Duration.ofMillis(100), 0, 0);
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                        endpoints:
                          - name: Slow
                            url: %s
                            key: k1
                            connections:
                              limits:
                                max_connections: 2
                        """.formatted(slow.baseUrl())))) {

            List<HttpResponse<String>> responses = sendAll(20, 20,
                    i -> proxy.send(FailoverTest.chatRequest(proxy, false).build()));

            assertTrue(responses.stream().allMatch(r -> r.statusCode() == 200));
            assertEquals(2, slow.maxInFlight(), "never more than max_connections in flight, and that many used");
        }
    }

    @Test
    void aRequestThatFindsNoFreeConnectionWithinThePoolTimeoutMovesOnToTheNextCandidate() throws Exception {
        try (CountingUpstream slow = CountingUpstream.start("slow", Duration.ofMillis(1500), 0, 0);
                CountingUpstream fast = CountingUpstream.start("fast", Duration.ZERO, 0, 0);
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                        endpoints:
                          - name: Slow
                            url: %s
                            key: k1
                            connections:
                              limits:
                                max_connections: 1
                              timeouts:
                                pool: 0.2
                          - name: Fast
                            url: %s
                            key: k2
                        """.formatted(slow.baseUrl(), fast.baseUrl())))) {

            List<HttpResponse<String>> responses = sendAll(2, 2,
                    i -> proxy.send(FailoverTest.chatRequest(proxy, false).build()));

            assertTrue(responses.stream().allMatch(r -> r.statusCode() == 200));
            assertEquals(1, slow.served());
            assertEquals(1, fast.served());
        }
    }

    @Test
    void fiveHundredConcurrentRequestsWithRandomThrottlingAreAllAnsweredNoneLostNoneHung() throws Exception {
        try (CountingUpstream a = CountingUpstream.start("a", Duration.ofMillis(5), 0.3, 30);
                CountingUpstream b = CountingUpstream.start("b", Duration.ofMillis(5), 0.3, 30);
                CountingUpstream c = CountingUpstream.start("c", Duration.ofMillis(5), 0.3, 30);
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                        endpoints:
                          - {name: A, url: %s, key: k1, priority: 0}
                          - {name: B, url: %s, key: k2, priority: 0}
                          - {name: C, url: %s, key: k3, priority: 0}
                        """.formatted(a.baseUrl(), b.baseUrl(), c.baseUrl())))) {

            List<HttpResponse<String>> responses = sendAll(500, 500,
                    i -> proxy.send(FailoverTest.chatRequest(proxy, false).build()));

            assertEquals(500, responses.size());
            int ok = 0;
            for (HttpResponse<String> response : responses) {
                if (response.statusCode() == 200) {
                    ok++;
                    assertTrue(response.body().startsWith("{\"served_by\":"), response.body());
                } else {
                    assertEquals(429, response.statusCode(), response.body());
                    assertEquals("TooManyRequests", JSON.readTree(response.body()).path("error").path("code").asText(),
                            "a 429 the client sees is the proxy's, never an upstream's: " + response.body());
                    assertTrue(response.headers().firstValue("retry-after-ms").isPresent());
                }
            }
            assertEquals(ok, a.served() + b.served() + c.served(), "every 200 was served exactly once upstream");
            assertTrue(ok > 0);
        }
    }
}
