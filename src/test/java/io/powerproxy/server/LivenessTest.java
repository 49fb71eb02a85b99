package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.WireMockUpstream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A process that can no longer serve says so on its liveness probe, so that it is restarted, and answers requests
 * meanwhile with a clear 503 rather than hanging.
 */
class LivenessTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String LIVENESS = "/powerproxy/health/liveness";
    private static final String READINESS = "/powerproxy/health/readiness";
    /** Generous: an answer takes milliseconds; a request that hangs fails the test after this. */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private ProxyServer proxy;

    @BeforeEach
    void startAzure() {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .willReturn(okJson("{\"choices\":[]}")));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
        client.close();
    }

    @Test
    void whenTheUpstreamClientHasStoppedRequestsGet503AtOnceAndLivenessFails() throws Exception {
        start(List.of());
        assertEquals(200, chat().statusCode());
        assertEquals(204, get(LIVENESS).statusCode());

        try (CapturedLogs logs = CapturedLogs.start()) {
            // What the end of its selector thread (an OutOfMemoryError there) does to a JDK HttpClient.
            proxy.upstreamClient().shutdownNow();
            HttpResponse<String> liveness = awaitStatus(LIVENESS, 503);
            assertTrue(liveness.body().contains("\"status\":\"not live\""), liveness.body());
            assertTrue(liveness.body().contains("the HTTP client to the endpoints has stopped"), liveness.body());
            assertEquals(503, get(READINESS).statusCode(), "a process that is not live is not ready either");

            for (int i = 0; i < 3; i++) {
                HttpResponse<String> answer = chat();
                assertEquals(503, answer.statusCode(), answer.body());
                assertTrue(answer.body().startsWith("{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":\"This proxy"
                        + " can no longer send requests to Azure OpenAI"), answer.body());
            }
            assertEquals(1, logs.containing("the HTTP client to the endpoints has stopped").size(),
                    "logged once: " + logs.lines());
        }
    }

    @Test
    void anOutOfMemoryErrorWhileHandlingARequestIsLoggedOnceAndLivenessFails() throws Exception {
        AtomicBoolean outOfMemory = new AtomicBoolean();
        Plugin allocatesTooMuch = new Plugin() {
            @Override
            public void onRequestReceived(Exchange exchange) {
                if (outOfMemory.get()) {
                    throw new OutOfMemoryError("Java heap space (simulated)");
                }
            }
        };
        start(List.of(allocatesTooMuch));
        assertEquals(200, chat().statusCode());
        assertEquals(204, get(LIVENESS).statusCode());

        try (CapturedLogs logs = CapturedLogs.start()) {
            outOfMemory.set(true);
            assertEquals(500, chat().statusCode());
            assertEquals(500, chat().statusCode());
            HttpResponse<String> liveness = get(LIVENESS);
            assertEquals(503, liveness.statusCode());
            assertTrue(liveness.body().contains("java.lang.OutOfMemoryError: Java heap space (simulated) while handling"
                    + " request "), liveness.body());
            List<String> logged = logs.containing("OutOfMemoryError");
            assertEquals(1, logged.size(), "logged once: " + logs.lines());
            assertTrue(logged.getFirst().contains("while handling request ")
                    && logged.getFirst().contains("POST /openai/deployments/gpt-4o/chat/completions"), logged.getFirst());
        }
    }

    @Test
    void anOutOfMemoryErrorThatEndsAnotherThreadMakesLivenessFail() throws Exception {
        start(List.of());
        assertEquals(204, get(LIVENESS).statusCode());

        Thread.ofPlatform().name("usage-writer").uncaughtExceptionHandler(proxy.liveness())
                .start(() -> {
                    throw new OutOfMemoryError("Java heap space (simulated)");
                })
                .join();

        HttpResponse<String> liveness = get(LIVENESS);
        assertEquals(503, liveness.statusCode());
        assertTrue(liveness.body().contains("while running thread usage-writer"), liveness.body());
    }

    @Test
    void otherErrorsThatEndAThreadLeaveTheProcessLive() throws Exception {
        start(List.of());
        Thread.ofPlatform().uncaughtExceptionHandler(proxy.liveness())
                .start(() -> {
                    throw new StackOverflowError("simulated");
                })
                .join();
        assertEquals(204, get(LIVENESS).statusCode());
    }

    private void start(List<Plugin> plugins) throws Exception {
        proxy = ProxyServer.start(ConfigLoader.parse(Configs.oneEndpoint(azure.baseUrl())),
                new InetSocketAddress("127.0.0.1", 0), null, Pipeline.of(plugins));
    }

    private HttpResponse<String> chat() throws Exception {
        return client.send(HttpRequest.newBuilder(uri(CHAT)).timeout(REQUEST_TIMEOUT)
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(String path) throws Exception {
        return client.send(HttpRequest.newBuilder(uri(path)).timeout(REQUEST_TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The selector thread ends shortly after the shutdown; waits for the probe to see it, with a generous bound. */
    private HttpResponse<String> awaitStatus(String path, int status) {
        AtomicReference<HttpResponse<String>> last = new AtomicReference<>();
        Await.until(path + " answers " + status, () -> last.get().statusCode() + " " + last.get().body(), () -> {
            last.set(get(path));
            return last.get().statusCode() == status;
        });
        return last.get();
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + proxy.port() + path);
    }
}
