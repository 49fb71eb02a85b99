package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.CountingUpstream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGHUP to the real proxy process (README "Changing the config while it runs"): with a config file it reloads the
 * file at once; with a config from an environment variable it logs that nothing can be reloaded, and keeps serving.
 */
class SighupReloadTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String TEAM_C_KEY = "team-c-key-5566778899";

    @TempDir
    Path dir;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @Test
    void sighupReloadsTheConfigFileThatIsOtherwiseNotReadAgain() throws Exception {
        try (CountingUpstream upstream = CountingUpstream.start("one", Duration.ZERO, 0, 0)) {
            String yaml = Configs.oneEndpoint(upstream.baseUrl());
            Path file = Files.writeString(dir.resolve("config.yaml"), yaml);
            // Polling off: only the signal makes it read the file.
            try (ChildProxy proxy = ChildProxy.start(file, List.of(), Map.of("POWERPROXY_CONFIG_POLL_SECONDS", "0"))) {
                proxy.awaitLineContaining("is read again on SIGHUP only");
                Files.writeString(file, yaml.replace("aoai:", """
                          - name: Team C
                            key: %s
                        aoai:""".formatted(TEAM_C_KEY)));
                assertEquals(401, chat(proxy, TEAM_C_KEY), "not read before the signal");
                proxy.sighup();
                String line = proxy.awaitLineContaining("config reloaded from");
                assertTrue(line.contains("clients added [Team C]"), line);
                assertEquals(200, chat(proxy, TEAM_C_KEY));
                String metrics = client.send(HttpRequest.newBuilder(proxy.uri("/powerproxy/metrics"))
                        .header("api-key", TEAM_C_KEY).build(), HttpResponse.BodyHandlers.ofString()).body();
                assertTrue(metrics.contains("powerproxy_config_reloads_total{result=\"applied\"} 1.0"), metrics);
                assertTrue(metrics.contains("client=\"Team C\""), "the new client is a label value: " + metrics);

                proxy.sighup();
                proxy.awaitLineContaining("the file has not changed");
                assertTrue(proxy.isAlive());
                proxy.sigterm();
                assertEquals(0, proxy.awaitExit(), proxy.tail());
            }
        }
    }

    @Test
    void sighupWithAConfigFromAnEnvironmentVariableReloadsNothingAndKeepsServing() throws Exception {
        try (CountingUpstream upstream = CountingUpstream.start("one", Duration.ZERO, 0, 0);
                ChildProxy proxy = ChildProxy.run("io.powerproxy.PowerProxy", List.of(),
                        Map.of("POWERPROXY_CONFIG_STRING", Configs.oneEndpoint(upstream.baseUrl())),
                        List.of("--host", "127.0.0.1", "--port", "0"))) {
            proxy.awaitLineContaining("config reload is off: the config comes from the environment variable"
                    + " POWERPROXY_CONFIG_STRING");
            proxy.awaitLineContaining("ready on port");
            proxy.sighup();
            proxy.awaitLineContaining("SIGHUP: the config comes from the environment variable POWERPROXY_CONFIG_STRING,"
                    + " which cannot change while the process runs; nothing is reloaded");
            int port = Integer.parseInt(proxy.awaitLine(java.util.regex.Pattern.compile("ready on port (\\d+)"))
                    .group(1));
            HttpResponse<Void> response = client.send(HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + port + CHAT)).header("api-key", Configs.TEAM_A_KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build(),
                    HttpResponse.BodyHandlers.discarding());
            assertEquals(200, response.statusCode(), "still serving");
            assertTrue(proxy.isAlive());
        }
    }

    private int chat(ChildProxy proxy, String key) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(proxy.uri(CHAT)).header("api-key", key)
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}
