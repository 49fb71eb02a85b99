package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.ScriptedSseUpstream;
import io.powerproxy.testing.WireMockUpstream;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code onRequestReady} sees the request as it goes upstream, and may still refuse it; {@code onRequestEnded} comes
 * exactly once for every request, whatever its path, before the client has the answer when there is one to send.
 */
class RequestEndHooksTest {

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    /** Counts onRequestEnded per request id and notes the status each request had then. */
    private static final class Ends implements Plugin {
        final Map<String, Integer> count = new ConcurrentHashMap<>();
        final List<Integer> statuses = new CopyOnWriteArrayList<>();

        @Override
        public void onRequestEnded(Exchange exchange) {
            count.merge(exchange.requestId(), 1, Integer::sum);
            statuses.add(exchange.status());
        }
    }

    /** Refuses in onClientIdentified or onRequestReady as the request's x-test header says, or fails there. */
    private static final class Refuser implements Plugin {
        @Override
        public void onClientIdentified(Exchange exchange) {
            if ("identified".equals(exchange.requestHeader("x-test"))) {
                throw ProxyException.of(403, "Forbidden", "refused when identified");
            }
            if (exchange.requestIsJsonObject()) {
                exchange.changeRequest().setBodyField("max_tokens", 7);
            }
        }

        @Override
        public void onRequestReady(Exchange exchange) {
            if ("ready".equals(exchange.requestHeader("x-test"))) {
                throw ProxyException.of(403, "Forbidden", "refused when ready");
            }
            if ("bug".equals(exchange.requestHeader("x-test"))) {
                throw new IllegalStateException("a plugin's bug");
            }
        }
    }

    private static HttpResponse<String> send(ProxyHarness proxy, String key, String test) {
        HttpRequest.Builder request = proxy.request(CHAT).header("api-key", key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"));
        return proxy.send((test == null ? request : request.header("x-test", test)).build());
    }

    @Test
    void everyRequestEndsOnceWhateverItsPathAndBeforeTheClientHasTheAnswer() throws Exception {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "application/json").withBody("{\"usage\":{\"total_tokens\":3}}")));
        Ends ends = new Ends();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null,
                List.of(new Refuser(), ends))) {
            List<Integer> seen = new ArrayList<>();
            for (String test : new String[] {null, "identified", "ready", "bug"}) {
                seen.add(send(proxy, Configs.TEAM_A_KEY, test).statusCode());
                assertEquals(seen.size(), ends.statuses.size(), "ended before the client had its answer: " + test);
            }
            seen.add(send(proxy, "an-unknown-key-0123456789", null).statusCode());
            assertEquals(5, ends.statuses.size(), "an unknown key ends too, before its 401 goes out");
            azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(503)));
            seen.add(send(proxy, Configs.TEAM_A_KEY, null).statusCode());

            assertEquals(List.of(200, 403, 403, 500, 401, 429), seen);
            assertEquals(seen, ends.statuses);
            assertEquals(6, ends.count.size());
            ends.count.values().forEach(times -> assertEquals(1, times));
        }
    }

    @Test
    void aRefusalLeavesOnlyOnceEveryPluginWasToldTheRequestEnded() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Plugin holding = new Plugin() {
            @Override
            public void onRequestEnded(Exchange exchange) {
                entered.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null,
                List.of(new Refuser(), holding))) {
            CompletableFuture<HttpResponse<String>> refused = proxy.client().sendAsync(proxy.request(CHAT)
                    .header("api-key", Configs.TEAM_A_KEY).header("x-test", "ready")
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());

            assertTrue(entered.await(30, TimeUnit.SECONDS), "onRequestEnded was called");
            // What must not happen: the answer arriving while a plugin is still being told.
            assertThrows(TimeoutException.class, () -> refused.get(300, TimeUnit.MILLISECONDS));
            release.countDown();
            assertEquals(403, refused.get(30, TimeUnit.SECONDS).statusCode());
        }
    }

    @Test
    void aStreamTheClientLeftEndsOnceWithStatus499() throws Exception {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            events.add("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token" + i + "\"}}]}\n\n");
        }
        Ends ends = new Ends();
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(20), Duration.ZERO);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(ends))) {

            HttpResponse<InputStream> response = proxy.sendForStream(proxy.request(CHAT)
                    .header("api-key", Configs.TEAM_A_KEY).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}")).build());
            try (InputStream body = response.body()) {
                body.readNBytes(400);
            }

            Await.until("the request ended", () -> ends.statuses.size() == 1);
            proxy.stop();
            assertEquals(List.of(499), ends.statuses);
        }
    }

    @Test
    void onRequestReadySeesTheTokenDemandOfTheChangedBody() {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "application/json").withBody("{}")));
        List<Long> bounds = new CopyOnWriteArrayList<>();
        Plugin reader = new Plugin() {
            @Override
            public void onClientIdentified(Exchange exchange) {
                bounds.add(exchange.tokenDemand().completionBound());
            }

            @Override
            public void onRequestReady(Exchange exchange) {
                bounds.add(exchange.tokenDemand().completionBound());
            }
        };
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null,
                List.of(new Refuser(), reader))) {

            assertEquals(200, send(proxy, Configs.TEAM_A_KEY, null).statusCode());

            assertEquals(List.of(-1L, 7L), bounds, "as the client sent it, then as it goes upstream");
        }
    }
}
