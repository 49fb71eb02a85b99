package io.powerproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigSourceTest {

    @TempDir
    Path dir;

    @Test
    void aConfigFileIsReadAndNamedAsTheOrigin() throws Exception {
        Path file = Files.writeString(dir.resolve("config.yaml"), "clients: []\n");

        ConfigSource.ConfigText text = ConfigSource.resolve(file.toString(), null,
                Map.of("POWERPROXY_CONFIG_STRING", "from the environment")).orElseThrow();

        assertEquals("clients: []\n", text.yaml());
        assertEquals("file " + file.toAbsolutePath().normalize(), text.origin());
    }

    @Test
    void aByteOrderMarkIsDropped() throws Exception {
        Path file = dir.resolve("bom.yaml");
        Files.write(file, "\uFEFFclients: []\n".getBytes(StandardCharsets.UTF_8));

        assertEquals("clients: []\n", ConfigSource.resolve(file.toString(), null, Map.of()).orElseThrow().yaml());
    }

    @Test
    void aMissingConfigFileIsAnErrorNamingThePath() {
        String missing = dir.resolve("missing.yaml").toString();

        ConfigException e = assertThrows(ConfigException.class, () -> ConfigSource.resolve(missing, null, Map.of()));

        assertEquals("config file '" + missing + "' does not exist (looked for " + missing + ")", e.getMessage());
    }

    @Test
    void aDirectoryOrNonUtf8FileIsAnErrorNamingThePath() throws IOException {
        Path binary = dir.resolve("binary.yaml");
        Files.write(binary, new byte[] {'a', ':', ' ', (byte) 0xC3, (byte) 0x28});

        ConfigException directory = assertThrows(ConfigException.class,
                () -> ConfigSource.resolve(dir.toString(), null, Map.of()));
        ConfigException notUtf8 = assertThrows(ConfigException.class,
                () -> ConfigSource.resolve(binary.toString(), null, Map.of()));

        assertTrue(directory.getMessage().startsWith("config file '" + dir + "' is not a regular file"),
                directory.getMessage());
        assertTrue(notUtf8.getMessage().startsWith("config file '" + binary + "' is not UTF-8 text"), notUtf8.getMessage());
    }

    @Test
    void aNamedEnvironmentVariableIsRead() throws Exception {
        ConfigSource.ConfigText text = ConfigSource.resolve(null, "MY_CONFIG",
                Map.of("MY_CONFIG", "clients: []", "POWERPROXY_CONFIG_STRING", "other")).orElseThrow();

        assertEquals("clients: []", text.yaml());
        assertEquals("environment variable MY_CONFIG", text.origin());
    }

    @Test
    void aNamedEnvironmentVariableThatIsUnsetOrBlankIsAnErrorNamingIt() {
        ConfigException unset = assertThrows(ConfigException.class,
                () -> ConfigSource.resolve(null, "MY_CONFIG", Map.of("POWERPROXY_CONFIG_STRING", "clients: []")));
        ConfigException blank = assertThrows(ConfigException.class,
                () -> ConfigSource.resolve(null, "MY_CONFIG", Map.of("MY_CONFIG", " \n")));

        assertEquals("environment variable MY_CONFIG (named by --config-env-var) is not set", unset.getMessage());
        assertEquals("environment variable MY_CONFIG (named by --config-env-var) is empty", blank.getMessage());
    }

    @Test
    void withoutOptionsTheDefaultEnvironmentVariableIsRead() throws Exception {
        ConfigSource.ConfigText text = ConfigSource.resolve(null, null,
                Map.of("POWERPROXY_CONFIG_STRING", "clients: []")).orElseThrow();

        assertEquals("clients: []", text.yaml());
        assertEquals("environment variable POWERPROXY_CONFIG_STRING", text.origin());
    }

    @Test
    void withNoConfigurationAnywhereTheResultIsEmpty() throws Exception {
        assertEquals(Optional.empty(), ConfigSource.resolve(null, null, Map.of()));
        assertEquals(Optional.empty(), ConfigSource.resolve(null, null, Map.of("POWERPROXY_CONFIG_STRING", "  ")));
    }

    @Test
    void theNoConfigMessageNamesAllThreeWays() {
        assertTrue(ConfigSource.NO_CONFIG_MESSAGE.contains("--config-file PATH"));
        assertTrue(ConfigSource.NO_CONFIG_MESSAGE.contains("--config-env-var NAME"));
        assertTrue(ConfigSource.NO_CONFIG_MESSAGE.contains("POWERPROXY_CONFIG_STRING"));
    }

    @Test
    void aFileAndAnEnvironmentVariableTogetherAreAnError() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigSource.resolve("config.yaml", "MY_CONFIG", Map.of("MY_CONFIG", "x")));

        assertEquals("give either --config-file or --config-env-var, not both", e.getMessage());
    }
}
