package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.CapturedLogs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line (README "Command line"): where the config comes from, {@code --validate}, and the exit codes. */
class CommandLineTest {

    private static final String VALID = """
            clients:
              - name: Team A
                key: team-a-key-0123456789
            aoai:
              endpoints:
                - name: Sweden
                  url: https://sweden.openai.azure.com/
                  key: endpoint-key-abcdefgh
            """;

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(Map<String, String> env, String... args) {
        return PowerProxy.run(args, env, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void withoutAnyConfigItExits2NamingAllThreeWays() {
        assertEquals(2, run(Map.of()));
        assertTrue(err().contains("--config-file"), err());
        assertTrue(err().contains("--config-env-var"), err());
        assertTrue(err().contains("POWERPROXY_CONFIG_STRING"), err());
    }

    @Test
    void validateAcceptsAValidFile() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID);

        assertEquals(0, run(Map.of(), "--config-file", file.toString(), "--validate"));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("is valid"));
    }

    @Test
    void validateReadsTheConfigFromANamedEnvironmentVariable() {
        assertEquals(0, run(Map.of("MY_CONFIG", VALID), "--config-env-var", "MY_CONFIG", "--validate"));
    }

    @Test
    void validateReadsPowerproxyConfigStringWhenNoOptionIsGiven() {
        assertEquals(0, run(Map.of("POWERPROXY_CONFIG_STRING", VALID), "--validate"));
    }

    @Test
    void validateListsEveryProblemWithItsPathAndExits1() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID
                .replace("https://sweden.openai.azure.com/", "sweden")
                .replace("- name: Team A", "- name: Team A\n    deployments_allowed: {a: 1}"));

        assertEquals(1, run(Map.of(), "--config-file", file.toString(), "--validate"));
        assertTrue(err().contains("aoai.endpoints[0].url"), err());
        assertTrue(err().contains("clients[0].deployments_allowed"), err());
        assertFalse(err().contains("endpoint-key-abcdefgh"), err());
    }

    @Test
    void anUnknownPluginIsReportedWithTheKnownOnes() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID + "plugins:\n  - name: LogUsge\n");

        assertEquals(1, run(Map.of(), "--config-file", file.toString(), "--validate"));
        assertTrue(err().contains("plugins[0].name: unknown plugin 'LogUsge'; known:"), err());
    }

    @Test
    void validateChecksTheRedisSettingsOfObjectAffinityWithoutShowingThePassword() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID + """
                  object_affinity:
                    redis:
                      redis_password: "secret-redis-password"
                      redis_fail_mode: open
                """);

        assertEquals(1, run(Map.of(), "--config-file", file.toString(), "--validate"));
        assertTrue(err().contains("aoai.object_affinity.redis.redis_host is required"), err());
        assertTrue(err().contains("aoai.object_affinity.redis.redis_fail_mode has no meaning here"), err());
        assertFalse(err().contains("secret-redis-password"), err());
    }

    @Test
    void aMissingConfigFileExits2NamingThePath() {
        assertEquals(2, run(Map.of(), "--config-file", dir.resolve("nope.yaml").toString(), "--validate"));
        assertTrue(err().contains("nope.yaml"), err());
    }

    @Test
    void aRequestBodyMemorySettingThatIsNoNumberStopsTheStartWithExit2NamingIt() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID);
        System.setProperty("powerproxy.requestBodyMemoryMiB", "lots");
        try (CapturedLogs logs = CapturedLogs.start()) {
            assertEquals(2, run(Map.of(), "--config-file", file.toString(), "--host", "127.0.0.1", "--port", "0"));
            assertTrue(logs.lines().stream().anyMatch(line -> line.startsWith("ERROR") && line.contains("cannot start")
                    && line.contains("powerproxy.requestBodyMemoryMiB") && line.contains("'lots'")),
                    String.join("\n", logs.lines()));
        } finally {
            System.clearProperty("powerproxy.requestBodyMemoryMiB");
        }
    }

    @Test
    void aMetricsAuthSettingThatIsNeitherClientKeyNorNoneExits2NamingIt() throws IOException {
        Path file = Files.writeString(dir.resolve("config.yaml"), VALID);

        assertEquals(2, run(Map.of("POWERPROXY_METRICS_AUTH", "off"), "--config-file", file.toString(), "--validate"));
        assertTrue(err().contains("POWERPROXY_METRICS_AUTH must be 'client-key'") && err().contains("not 'off'"), err());
    }

    @Test
    void aLogFormatOtherThanTextOrJsonExits2NamingTheSettingAndItsValues() {
        assertEquals(2, run(Map.of("POWERPROXY_CONFIG_STRING", VALID, "POWERPROXY_LOG_FORMAT", "xml"), "--validate"));
        assertTrue(err().contains("POWERPROXY_LOG_FORMAT must be text or json, not 'xml'"), err());
    }

    @Test
    void unknownArgumentsExit2WithTheUsage() {
        assertEquals(2, run(Map.of(), "--confg-file", "x"));
        assertTrue(err().contains("unknown argument '--confg-file'"), err());
        assertTrue(err().contains("usage:"), err());
    }

    @Test
    void theDemoConfigShippedWithTheProjectIsValid() throws IOException {
        assertEquals(0, run(Map.of(), "--config-file", "config/demo.yaml", "--validate"), err());
    }

    @Test
    void theCompatFixtureReportsItsPlaceholdersUnderValidate() throws IOException {
        String fixture;
        try (InputStream in = getClass().getResourceAsStream("/compat/powerproxy-config.yaml")) {
            fixture = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertEquals(1, run(Map.of("POWERPROXY_CONFIG_STRING", fixture), "--validate"));
        assertTrue(err().contains("azure_subscription_id is still a placeholder"), err());
        assertTrue(err().contains("plugins[1].redis.redis_host is still a placeholder"), err());
    }
}
