package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.GatedUpstream;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * What a config swap does to the plugins (README "Changing the config while it runs"): one with the same settings is
 * kept and stays open, one that is replaced or removed serves the requests begun before the swap to their end and
 * is closed only then.
 */
class RuntimeSwapTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    /** What each plugin instance saw, in order: "usage", "closed". */
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** A usage sink named by its {@code label} setting, recording its usage calls and its close. */
    private final PluginFactory recorder = PluginFactory.ofOwnSettingsOnly("Recorder", context -> {
        String label = String.valueOf(context.settings().settings().get("label"));
        return new Plugin() {
            @Override
            public void onUsage(Exchange exchange, UsageRecord usage) {
                events.add(label + " usage");
            }

            @Override
            public void close() {
                events.add(label + " closed");
            }
        };
    });
    private final PluginRegistry registry = PluginRegistry.create(List.of(recorder), getClass().getClassLoader());

    private static String config(String upstreamUrl, String label, String clientKey) {
        return """
                clients:
                  - name: Team A
                    key: %s
                  - name: Team B
                    key: %s
                plugins:
                  - name: Recorder
                    label: %s
                aoai:
                  endpoints:
                    - name: Sweden
                      url: %s
                      key: %s
                """.formatted(Configs.TEAM_A_KEY, clientKey, label, upstreamUrl, Configs.ENDPOINT_KEY);
    }

    @Test
    void aReplacedPluginServesTheStreamBegunBeforeTheSwapAndIsClosedWhenItEnds() throws Exception {
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        try (GatedUpstream upstream = GatedUpstream.start();
                ProxyServer server = start(config(upstream.baseUrl(), "old", Configs.TEAM_B_KEY))) {
            Future<Integer> stream = threads.submit(() -> stream(server));
            Await.until("the stream is open", () -> upstream.streamsOpen() == 1);

            reload(server, config(upstream.baseUrl(), "new", Configs.TEAM_B_KEY));
            assertEquals(200, post(server));
            Await.until("the new plugin got the usage", () -> events.contains("new usage"));
            assertEquals(List.of("new usage"), events, "the old plugin is open while its stream runs");

            upstream.release();
            assertEquals(200, stream.get());
            Await.until("the old plugin is closed", () -> events.contains("old closed"));
            assertEquals(List.of("new usage", "old usage", "old closed"), events,
                    "the stream's usage went to the plugin it began with, which closed after it");
        } finally {
            threads.shutdownNow();
        }
        assertEquals("new closed", events.getLast(), "the stop closes the current plugin");
    }

    @Test
    void aPluginWithTheSameSettingsIsKeptOpenAcrossTwoReloads() throws Exception {
        try (GatedUpstream upstream = GatedUpstream.start();
                ProxyServer server = start(config(upstream.baseUrl(), "same", Configs.TEAM_B_KEY))) {
            Plugin first = server.pipeline().plugins().getFirst();
            reload(server, config(upstream.baseUrl(), "same", "team-b-rotated-key-0001"));
            reload(server, config(upstream.baseUrl(), "same", "team-b-rotated-key-0002"));
            assertSame(first, server.pipeline().plugins().getFirst());
            assertEquals(200, post(server));
            Await.until("it got the usage", () -> events.contains("same usage"));
            assertTrue(!events.contains("same closed"), events.toString());
        }
        assertEquals(List.of("same usage", "same closed"), events, "closed once, at the stop");
    }

    @Test
    void aReloadAfterTheStopIsRefused() throws Exception {
        try (GatedUpstream upstream = GatedUpstream.start()) {
            ProxyServer server = start(config(upstream.baseUrl(), "old", Configs.TEAM_B_KEY));
            server.stop(Duration.ZERO);
            ProxyConfig next = ConfigLoader.parse(config(upstream.baseUrl(), "new", Configs.TEAM_B_KEY));
            var pipeline = registry.reloadPipeline(server.config(), server.pipeline(), next);
            IllegalStateException refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> server.apply(next, pipeline, null));
            assertEquals("the proxy has stopped", refused.getMessage());
            pipeline.close();
        }
    }

    private ProxyServer start(String yaml) throws ConfigException, IOException {
        ProxyConfig config = ConfigLoader.parse(yaml);
        return ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null, registry.createPipeline(config));
    }

    private void reload(ProxyServer server, String yaml) throws ConfigException {
        ProxyConfig next = ConfigLoader.parse(yaml);
        server.apply(next, registry.reloadPipeline(server.config(), server.pipeline(), next), null);
    }

    private int post(ProxyServer server) throws IOException, InterruptedException {
        return client.send(request(server, "{\"messages\":[]}"), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private int stream(ProxyServer server) throws IOException, InterruptedException {
        HttpResponse<String> response = client.send(request(server, "{\"messages\":[],\"stream\":true}"),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(response.body().contains("[DONE]"), response.body());
        return response.statusCode();
    }

    private static HttpRequest request(ProxyServer server, String body) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + CHAT))
                .header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }
}
