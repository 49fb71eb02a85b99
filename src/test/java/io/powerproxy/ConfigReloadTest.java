package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.CountingUpstream;
import io.powerproxy.testing.GatedUpstream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Changing the config file of a running proxy (README "Changing the config while it runs"): a valid change applies to
 * new requests within seconds while requests and streams in flight finish on the config they began with, state of
 * what did not change carries over, and an invalid change changes nothing.
 */
class ConfigReloadTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String TEAM_C_KEY = "team-c-key-5566778899";
    private static final Duration POLL = Duration.ofMillis(100);

    @TempDir
    Path dir;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    /** A proxy on a config file, with the reloader of the real process reading it every 100 ms. */
    private final class Proxy implements AutoCloseable {
        final Path file;
        final ProxyServer server;
        final ConfigReloader reloader;
        final AtomicInteger applied = new AtomicInteger();
        final List<List<String>> rejected = new CopyOnWriteArrayList<>();

        Proxy(Path file, Duration poll) throws IOException, ConfigException {
            this(file, poll, PowerProxy.pluginRegistry(Map.of("POWERPROXY_PLUGINS_DIR",
                    dir.resolve("no-plugins").toString())));
        }

        Proxy(Path file, Duration poll, PluginRegistry registry) throws IOException, ConfigException {
            this.file = file;
            String yaml = Files.readString(file);
            ProxyConfig config = ConfigLoader.parse(yaml);
            server = ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null,
                    registry.createPipeline(config));
            reloader = ConfigReloader.start(file.toString(), yaml, registry, server, c -> null,
                    ConfigReloader.Listener.of(c -> applied.incrementAndGet(), rejected::add), poll);
        }

        URI uri(String pathAndQuery) {
            return URI.create("http://127.0.0.1:" + server.port() + pathAndQuery);
        }

        @Override
        public void close() {
            reloader.close();
            server.stop(Duration.ZERO);
        }
    }

    @Test
    void aClientAddedAndAnEndpointRemovedUnderLoadCutNoStreamAndTheRemovedEndpointGetsNoNewRequest() throws Exception {
        try (GatedUpstream kept = GatedUpstream.start(); GatedUpstream removed = GatedUpstream.start();
                CapturedLogs logs = CapturedLogs.start()) {
            // Removed is tried first, so that everything before the reload goes there.
            Path file = write("config.yaml", config(List.of(Configs.TEAM_A_KEY), endpoint("Removed", removed, 0)
                    + endpoint("Kept", kept, 1)));
            try (Proxy proxy = new Proxy(file, POLL)) {
                ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
                List<Future<String>> streams = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    streams.add(threads.submit(() -> stream(proxy)));
                }
                Await.until("four streams are open at the endpoint to be removed", () -> removed.streamsOpen() == 4);

                AtomicBoolean loading = new AtomicBoolean(true);
                AtomicIntegerArray done = new AtomicIntegerArray(3);
                List<Integer> failures = new CopyOnWriteArrayList<>();
                List<Future<?>> load = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    int thread = t;
                    load.add(threads.submit(() -> {
                        while (loading.get()) {
                            int status = post(proxy, Configs.TEAM_A_KEY).statusCode();
                            if (status != 200) {
                                failures.add(status);
                            }
                            done.incrementAndGet(thread);
                        }
                        return null;
                    }));
                }
                Await.until("the load reaches the endpoint", () -> done.get(0) > 5 && done.get(2) > 5);
                assertEquals(401, post(proxy, TEAM_C_KEY).statusCode(), "the new client is not known yet");

                rewrite(file, config(List.of(Configs.TEAM_A_KEY, TEAM_C_KEY), endpoint("Kept", kept, 1)));
                Await.until("the new client's key works", Duration.ofSeconds(10),
                        () -> post(proxy, TEAM_C_KEY).statusCode() == 200);

                // Every load thread finishes a request it began after the swap, then the removed endpoint's count
                // must stay as it is.
                awaitMoreRequests(done, 2);
                int removedBefore = removed.requests();
                awaitMoreRequests(done, 20);
                assertEquals(removedBefore, removed.requests(), "the removed endpoint got new requests");
                assertTrue(kept.requests() > 0);

                removed.release();
                for (Future<String> stream : streams) {
                    String events = stream.get();
                    assertTrue(events.contains("\"last\"") && events.endsWith("data: [DONE]"),
                            "a stream begun before the reload ends whole: " + events);
                }

                rewrite(file, config(List.of(Configs.TEAM_A_KEY, TEAM_C_KEY), endpoint("Kept", kept, 1))
                        .replace("url: ", "url: not a url "));
                Await.until("the invalid edit is reported", () -> proxy.rejected.size() == 1);
                loading.set(false);
                for (Future<?> thread : load) {
                    thread.get();
                }
                assertEquals(List.of(), failures, "statuses other than 200 under load");
                assertTrue(proxy.rejected.getFirst().stream().anyMatch(p -> p.contains("aoai.endpoints[0].url")),
                        proxy.rejected.toString());
                assertEquals(1, proxy.applied.get());
                assertEquals(200, post(proxy, TEAM_C_KEY).statusCode(), "the running config stays");
                assertEquals(200, post(proxy, Configs.TEAM_A_KEY).statusCode());
                assertEquals(204, client.send(HttpRequest.newBuilder(proxy.uri("/powerproxy/health/readiness"))
                        .build(), HttpResponse.BodyHandlers.discarding()).statusCode(), "it stays ready");
                List<String> errors = logs.messages(ConfigReloader.class, Level.ERROR);
                assertTrue(errors.getFirst().contains("the running config stays"), errors.toString());
                assertTrue(errors.stream().anyMatch(line -> line.startsWith("  - aoai.endpoints[0].url")),
                        "each problem as --validate prints it: " + errors);
                threads.shutdownNow();
            }
        }
    }

    @Test
    void theReloadLineNamesWhatChangedAndNoKey() throws Exception {
        try (CountingUpstream one = CountingUpstream.start("one", Duration.ZERO, 0, 0);
                CountingUpstream two = CountingUpstream.start("two", Duration.ZERO, 0, 0);
                CapturedLogs logs = CapturedLogs.start()) {
            Path file = write("config.yaml", config(List.of(Configs.TEAM_A_KEY), endpoint("One", one.baseUrl(), 0)));
            try (Proxy proxy = new Proxy(file, POLL)) {
                String changedKey = "team-a-rotated-key-4242";
                rewrite(file, config(List.of(changedKey, TEAM_C_KEY), endpoint("Two", two.baseUrl(), 0)));
                Await.until("the reload is applied", () -> proxy.applied.get() == 1);
                String line = logs.messages(ConfigReloader.class, Level.INFO).stream()
                        .filter(message -> message.startsWith("config reloaded from")).findFirst().orElseThrow();
                assertTrue(line.contains("clients added [Team C]"), line);
                assertTrue(line.contains("clients changed [Team 0 (key)]"), line);
                assertTrue(line.contains("endpoints added [Two]") && line.contains("endpoints removed [One]"), line);
                for (String secret : List.of(Configs.TEAM_A_KEY, changedKey, TEAM_C_KEY, Configs.ENDPOINT_KEY)) {
                    assertFalse(line.contains(secret.substring(secret.length() - 4)), "a key's end is in " + line);
                }
            }
        }
    }

    @Test
    void aBlockOfAnUnchangedEndpointOutlivesTheReload() throws Exception {
        try (CountingUpstream throttled = CountingUpstream.start("throttled", Duration.ZERO, 1, 60_000);
                CountingUpstream spare = CountingUpstream.start("spare", Duration.ZERO, 0, 0)) {
            String endpoints = endpoint("Throttled", throttled.baseUrl(), 0) + endpoint("Spare", spare.baseUrl(), 1);
            Path file = write("config.yaml", config(List.of(Configs.TEAM_A_KEY), endpoints));
            try (Proxy proxy = new Proxy(file, POLL)) {
                assertEquals(200, post(proxy, Configs.TEAM_A_KEY).statusCode());
                assertEquals(1, throttled.throttled(), "its 429 blocks it for a minute");

                rewrite(file, config(List.of(Configs.TEAM_A_KEY, TEAM_C_KEY), endpoints));
                Await.until("the reload is applied", () -> proxy.applied.get() == 1);
                assertEquals(200, post(proxy, TEAM_C_KEY).statusCode());
                assertEquals(200, post(proxy, Configs.TEAM_A_KEY).statusCode());
                assertEquals(1, throttled.throttled(), "the blocked endpoint was tried again after the reload");
                assertEquals(3, spare.served());
            }
        }
    }

    @Test
    void usageRowsAreNeitherLostNorDoubledAcrossReloadsThatKeepAndReplaceTheCsvSink() throws Exception {
        Path first = dir.resolve("logs-1");
        Path second = dir.resolve("logs-2");
        Path file = write("config.yaml", Configs.pluginsOnMock(csv(first), 5));
        try (Proxy proxy = new Proxy(file, POLL)) {
            AtomicBoolean loading = new AtomicBoolean(true);
            AtomicInteger answered = new AtomicInteger();
            ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
            List<Future<?>> load = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                load.add(threads.submit(() -> {
                    while (loading.get()) {
                        if (post(proxy, Configs.TEAM_A_KEY).statusCode() == 200) {
                            answered.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            Await.until("some rows are written", () -> answered.get() > 10);
            // The sink is kept: its settings are the same.
            rewrite(file, Configs.pluginsOnMock(csv(first), 5).replace("Team B", "Team B2"));
            Await.until("the first reload is applied", () -> proxy.applied.get() == 1);
            int before = answered.get();
            Await.until("more rows are written", () -> answered.get() > before + 10);
            // The sink is replaced: the old one is closed once its requests have ended.
            rewrite(file, Configs.pluginsOnMock(csv(second), 5));
            Await.until("the second reload is applied", () -> proxy.applied.get() == 2);
            int between = answered.get();
            Await.until("rows are written by the new sink", () -> answered.get() > between + 10);
            loading.set(false);
            for (Future<?> thread : load) {
                thread.get();
            }
            threads.shutdownNow();
            assertTrue(rows(second) > 0, "the new sink writes to its folder");
            assertEquals(answered.get(), rows(first) + rows(second), "one row per request answered");
        }
    }

    @Test
    void aConfigMapUpdateThatSwapsTheDataSymlinkIsReloaded() throws Exception {
        try (CountingUpstream one = CountingUpstream.start("one", Duration.ZERO, 0, 0)) {
            // The layout kubelet makes: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/
            Path mount = Files.createDirectories(dir.resolve("mount"));
            Path version1 = Files.createDirectories(mount.resolve("..2026_12_06_1"));
            Files.writeString(version1.resolve("config.yaml"),
                    config(List.of(Configs.TEAM_A_KEY), endpoint("One", one.baseUrl(), 0)));
            Files.createSymbolicLink(mount.resolve("..data"), version1.getFileName());
            Path file = Files.createSymbolicLink(mount.resolve("config.yaml"), Path.of("..data", "config.yaml"));
            try (Proxy proxy = new Proxy(file, POLL)) {
                Path version2 = Files.createDirectories(mount.resolve("..2026_12_06_2"));
                Files.writeString(version2.resolve("config.yaml"),
                        config(List.of(Configs.TEAM_A_KEY, TEAM_C_KEY), endpoint("One", one.baseUrl(), 0)));
                Path link = Files.createSymbolicLink(mount.resolve("..data_tmp"), version2.getFileName());
                Files.move(link, mount.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
                Await.until("the new client's key works", Duration.ofSeconds(10),
                        () -> post(proxy, TEAM_C_KEY).statusCode() == 200);
            }
        }
    }

    @Test
    void aHalfWrittenFileIsRejectedAndTheFinishedOneApplied() throws Exception {
        try (CountingUpstream one = CountingUpstream.start("one", Duration.ZERO, 0, 0)) {
            Path file = write("config.yaml", config(List.of(Configs.TEAM_A_KEY), endpoint("One", one.baseUrl(), 0)));
            // Read only when asked, so that the test decides when the file is looked at.
            try (Proxy proxy = new Proxy(file, Duration.ZERO)) {
                String full = config(List.of(Configs.TEAM_A_KEY, TEAM_C_KEY), endpoint("One", one.baseUrl(), 0));
                rewrite(file, full.substring(0, full.indexOf("aoai:")));
                assertEquals(ConfigReloader.Outcome.REJECTED, proxy.reloader.check(false));
                assertEquals(ConfigReloader.Outcome.UNCHANGED, proxy.reloader.check(false),
                        "the same invalid text is reported once");
                assertEquals(ConfigReloader.Outcome.REJECTED, proxy.reloader.check(true), "SIGHUP tries it again");
                assertEquals(2, proxy.rejected.size());
                rewrite(file, full);
                assertEquals(ConfigReloader.Outcome.APPLIED, proxy.reloader.check(false));
                assertEquals(200, post(proxy, TEAM_C_KEY).statusCode());
                assertEquals(ConfigReloader.Outcome.UNCHANGED, proxy.reloader.check(true));
            }
        }
    }

    @Test
    void aDeletedFileIsReportedOnceAndChangesNothing() throws Exception {
        try (CountingUpstream one = CountingUpstream.start("one", Duration.ZERO, 0, 0)) {
            String yaml = config(List.of(Configs.TEAM_A_KEY), endpoint("One", one.baseUrl(), 0));
            Path file = write("config.yaml", yaml);
            try (Proxy proxy = new Proxy(file, Duration.ZERO)) {
                Files.delete(file);
                assertEquals(ConfigReloader.Outcome.REJECTED, proxy.reloader.check(false));
                assertEquals(ConfigReloader.Outcome.REJECTED, proxy.reloader.check(false));
                assertEquals(1, proxy.rejected.size(), "reported once: " + proxy.rejected);
                assertTrue(proxy.rejected.getFirst().getFirst().contains("does not exist"), proxy.rejected.toString());
                assertEquals(200, post(proxy, Configs.TEAM_A_KEY).statusCode());
                Files.writeString(file, yaml);
                assertEquals(ConfigReloader.Outcome.UNCHANGED, proxy.reloader.check(false), "the same text is back");
            }
        }
    }

    @Test
    void aPluginFactoryThatThrowsIsAFailedReloadThatChangesNothing() throws Exception {
        PluginRegistry registry = PluginRegistry.create(List.of(PluginFactory.of("Exploding", context -> {
            throw new IllegalStateException("boom");
        })), getClass().getClassLoader());
        try (CountingUpstream one = CountingUpstream.start("one", Duration.ZERO, 0, 0);
                CapturedLogs logs = CapturedLogs.start()) {
            String yaml = config(List.of(Configs.TEAM_A_KEY), endpoint("One", one.baseUrl(), 0));
            Path file = write("config.yaml", yaml);
            try (Proxy proxy = new Proxy(file, Duration.ZERO, registry)) {
                rewrite(file, yaml.replace("aoai:", "plugins:\n  - name: Exploding\naoai:")
                        .replace("clients:\n", "clients:\n  - name: Team C\n    key: " + TEAM_C_KEY + "\n"));
                assertEquals(ConfigReloader.Outcome.REJECTED, proxy.reloader.check(false));
                assertEquals(List.of(List.of("creating the plugins failed: java.lang.IllegalStateException: boom")),
                        proxy.rejected);
                assertEquals(401, post(proxy, TEAM_C_KEY).statusCode(), "the running config stays");
                assertTrue(logs.containing("creating the new config's plugins failed").size() == 1, logs.lines()
                        .toString());
            }
        }
    }

    private static String config(List<String> clientKeys, String endpoints) {
        StringBuilder yaml = new StringBuilder("clients:\n");
        for (int i = 0; i < clientKeys.size(); i++) {
            String name = i == 0 ? "Team 0" : "Team C";
            yaml.append("  - name: ").append(name).append("\n    key: ").append(clientKeys.get(i)).append('\n');
        }
        return yaml + "aoai:\n  endpoints:\n" + endpoints;
    }

    private static String endpoint(String name, GatedUpstream upstream, int priority) {
        return endpoint(name, upstream.baseUrl(), priority);
    }

    private static String endpoint(String name, String url, int priority) {
        return """
                    - name: %s
                      url: %s
                      key: %s
                      priority: %d
                """.formatted(name, url, Configs.ENDPOINT_KEY, priority);
    }

    private static String csv(Path logDir) {
        return """
                - name: LogUsageToCsvFile
                  log_dir: '%s'
                """.formatted(logDir);
    }

    private Path write(String name, String yaml) throws IOException {
        return Files.writeString(dir.resolve(name), yaml);
    }

    /** Replaces the file's text as an editor that saves in place does. */
    private static void rewrite(Path file, String yaml) throws IOException {
        Files.writeString(file, yaml);
    }

    private static void awaitMoreRequests(AtomicIntegerArray done, int more) {
        int[] from = new int[done.length()];
        for (int i = 0; i < from.length; i++) {
            from[i] = done.get(i);
        }
        Await.until("every load thread finishes " + more + " more requests", () -> {
            for (int i = 0; i < from.length; i++) {
                if (done.get(i) < from[i] + more) {
                    return false;
                }
            }
            return true;
        });
    }

    private HttpResponse<String> post(Proxy proxy, String key) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(proxy.uri(CHAT)).timeout(Duration.ofSeconds(30))
                .header("api-key", key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Opens a stream and reads it to its end: the events' lines, joined. */
    private String stream(Proxy proxy) throws IOException, InterruptedException {
        HttpResponse<InputStream> response = client.send(HttpRequest.newBuilder(proxy.uri(CHAT))
                .timeout(Duration.ofSeconds(60)).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}"))
                .build(), HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, response.statusCode());
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            return String.join("\n", lines.lines().filter(line -> !line.isEmpty()).toList());
        }
    }

    private static long rows(Path logDir) throws IOException {
        if (!Files.isDirectory(logDir)) {
            return 0;
        }
        long rows = 0;
        try (Stream<Path> files = Files.list(logDir)) {
            for (Path csv : files.filter(f -> f.toString().endsWith(".csv")).toList()) {
                // Minus the header row.
                rows += Files.readAllLines(csv).size() - 1;
            }
        }
        return rows;
    }
}
