package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.config.ConfigLoader;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JDK server and client properties {@link ProxyServer#useJdkDefaults} sets, read in a child JVM: the test JVM
 * cannot tell, because its build sets some of them, and the JDK reads them only once per process.
 */
class JdkDefaultsTest {

    private static final List<String> PROPERTIES = List.of("sun.net.httpserver.nodelay",
            "sun.net.httpserver.maxReqTime", "sun.net.httpserver.maxIdleConnections", "jdk.httpclient.keepalive.timeout",
            "jdk.httpclient.connectionPoolSize", "jdk.httpclient.bufsize");

    @TempDir
    Path dir;

    @Test
    void theProxySetsTheServerAndClientPropertiesFromItsConfigAndADashDGivenByTheUserWins() throws Exception {
        Path config = Files.writeString(dir.resolve("config.yaml"), Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: https://sweden.example
                    key: k1
                    connections:
                      limits:
                        max_keepalive_connections: 3
                        keepalive_expiry: 7
                  - name: EastUS
                    url: https://eastus.example
                    key: k2
                    connections:
                      limits:
                        max_connections: 30
                        max_keepalive_connections: 130
                        keepalive_expiry: 12.5
                """));

        Map<String, String> seen = propertiesInChild(config, List.of("-Djdk.httpclient.bufsize=4096"));

        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("sun.net.httpserver.nodelay", "true");
        expected.put("sun.net.httpserver.maxReqTime", "120");
        expected.put("sun.net.httpserver.maxIdleConnections", "10000");
        expected.put("jdk.httpclient.keepalive.timeout", "12");
        // The first endpoint's max_connections (100, the default), the second's max_keepalive_connections (above its
        // max_connections).
        expected.put("jdk.httpclient.connectionPoolSize", "230");
        expected.put("jdk.httpclient.bufsize", "4096");
        assertEquals(expected, seen);
    }

    @Test
    void withoutADashDTheUpstreamReadBufferIsHalfTheJdkDefault() throws Exception {
        Path config = Files.writeString(dir.resolve("config.yaml"), Configs.oneEndpoint("https://sweden.example"));

        Map<String, String> seen = propertiesInChild(config, List.of());

        assertEquals("8192", seen.get("jdk.httpclient.bufsize"));
        assertEquals("5", seen.get("jdk.httpclient.keepalive.timeout"));
        assertEquals("100", seen.get("jdk.httpclient.connectionPoolSize"));
    }

    private static Map<String, String> propertiesInChild(Path config, List<String> jvmOptions) throws Exception {
        try (ChildProxy child = ChildProxy.run(Probe.class.getName(), jvmOptions, Map.of(), List.of(config.toString()))) {
            child.awaitLine(Pattern.compile("^done$"));
            assertEquals(0, child.awaitExit(), child.output());
            Map<String, String> seen = new LinkedHashMap<>();
            for (String line : child.output().split("\n")) {
                int equals = line.indexOf('=');
                if (equals > 0 && PROPERTIES.contains(line.substring(0, equals))) {
                    seen.put(line.substring(0, equals), line.substring(equals + 1));
                }
            }
            return seen;
        }
    }

    /** {@code Probe <config file>}: calls useJdkDefaults on the config and prints each property as name=value. */
    static final class Probe {

        private Probe() {
        }

        public static void main(String[] args) throws Exception {
            ProxyServer.useJdkDefaults(ConfigLoader.parse(Files.readString(Path.of(args[0]))));
            for (String name : PROPERTIES) {
                System.out.println(name + "=" + System.getProperty(name));
            }
            System.out.println("done");
        }
    }
}
