package io.powerproxy.config;

import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Building blocks for the config tests: small valid YAML pieces and shortcuts to load or fail. */
final class ConfigTestSupport {

    static final String ONE_CLIENT = """
            clients:
              - name: Team 1
                key: key-of-team-1-0123456789
            """;

    static final String ONE_ENDPOINT = """
            aoai:
              endpoints:
                - name: East
                  url: https://east.openai.azure.com/
            """;

    private ConfigTestSupport() {
    }

    static ProxyConfig load(String yaml) {
        try {
            return ConfigLoader.parse(yaml);
        } catch (ConfigException e) {
            throw new AssertionError("expected the config to load, but:\n" + e.getMessage(), e);
        }
    }

    static List<String> problems(String yaml) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.parse(yaml)).problems();
    }

    /** The configuration with {@link #ONE_CLIENT} and the given {@code aoai:} section. */
    static String withAoai(String aoai) {
        return ONE_CLIENT + aoai;
    }

    /** The configuration with the given {@code clients:} section and {@link #ONE_ENDPOINT}. */
    static String withClients(String clients) {
        return clients + ONE_ENDPOINT;
    }

    static String compatFixture() {
        try (InputStream in = ConfigTestSupport.class.getResourceAsStream("/compat/powerproxy-config.yaml")) {
            if (in == null) {
                throw new AssertionError("test resource compat/powerproxy-config.yaml is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
