package io.powerproxy;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A third-party plugin, compiled from the README's example source into a jar in a plugins folder, is found
 * through ServiceLoader, configured by name and run like a built-in (see the README's "Writing a plugin").
 */
class ExternalPluginTest {

    @TempDir
    static Path work;
    static Path pluginsFolder;

    @BeforeAll
    static void buildThePluginJar() throws Exception {
        Path sources = Path.of(ExternalPluginTest.class.getResource("/example-plugin").toURI());
        Path classes = Files.createDirectories(work.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        Path source = sources.resolve("com/example/powerproxy/RequireUserHeader.java");
        int exit = javac.run(null, null, null, "--release", "21", "-cp", System.getProperty("java.class.path"),
                "-d", classes.toString(), source.toString());
        assertEquals(0, exit, "the example plugin compiles against the proxy's API");
        pluginsFolder = Files.createDirectories(work.resolve("plugins"));
        try (JarOutputStream jar = new JarOutputStream(Files.newOutputStream(pluginsFolder.resolve("require-user-header.jar")))) {
            add(jar, classes, classes);
            add(jar, sources.resolve("META-INF"), sources);
        }
    }

    private static void add(JarOutputStream jar, Path folder, Path root) throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                jar.putNextEntry(new JarEntry(root.relativize(file).toString().replace('\\', '/')));
                try (InputStream in = Files.newInputStream(file)) {
                    in.transferTo(jar);
                }
                jar.closeEntry();
            }
        }
    }

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    private static String config(String pluginEntry) {
        return Configs.withAoai("""
                mock_response:
                  json: {"id": "x", "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                """) + "plugins:\n" + pluginEntry;
    }

    @Test
    void aPluginJarInThePluginsFolderIsLoadedByNameRefusesAndChangesTheRequestSentUpstream() throws Exception {
        WireMockServer azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        try {
            azure.stubFor(post(anyUrl()).willReturn(okJson("{\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                    + "\"completion_tokens\":1,\"total_tokens\":2}}")));
            String yaml = Configs.oneEndpoint(azure.baseUrl()) + "plugins:\n  - name: RequireUserHeader\n    header: x-end-user\n";
            ProxyConfig config = ConfigLoader.parse(yaml);
            List<Plugin> plugins = PowerProxy.pluginRegistry(Map.of("POWERPROXY_PLUGINS_DIR", pluginsFolder.toString()))
                    .createAll(config);
            try (ProxyHarness proxy = ProxyHarness.start(config, plugins)) {
                HttpResponse<String> refused = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");
                HttpResponse<String> allowed = proxy.send(proxy.request(CHAT)
                        .header("api-key", Configs.TEAM_A_KEY).header("x-end-user", "alice")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build());

                assertEquals(400, refused.statusCode());
                assertTrue(refused.body().contains("MissingUserHeader"), refused.body());
                assertTrue(refused.body().contains("x-end-user"), refused.body());
                assertEquals(200, allowed.statusCode());
                azure.verify(1, postRequestedFor(anyUrl()));
                azure.verify(postRequestedFor(anyUrl()).withRequestBody(equalToJson("{\"messages\":[],\"user\":\"alice\"}")));
            }
        } finally {
            azure.stop();
        }
    }

    @Test
    void theReadmeShowsExactlyTheExampleThatIsCompiledHere() throws Exception {
        String example = Files.readString(Path.of(ExternalPluginTest.class
                .getResource("/example-plugin/com/example/powerproxy/RequireUserHeader.java").toURI()));

        assertTrue(Files.readString(Path.of("README.md")).contains("```java\n" + example + "```\n"),
                "the README's \"Writing a plugin\" example differs from src/test/resources/example-plugin");
    }

    @Test
    void theExternalPluginsSettingsAreValidatedAtStartWithTheirPath() throws Exception {
        ProxyConfig config = ConfigLoader.parse(config("  - name: RequireUserHeader\n    header: 42\n    heder: x\n"));

        ConfigException problems = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> PowerProxy.pluginRegistry(Map.of("POWERPROXY_PLUGINS_DIR", pluginsFolder.toString())).createAll(config));

        assertEquals(List.of("plugins[0].header must be a string, got '42'",
                "plugins[0].heder is not a setting of RequireUserHeader; its settings here are: header"),
                problems.problems());
    }

    @Test
    void withoutThePluginsFolderTheNameIsUnknownAndTheKnownOnesAreListed() throws Exception {
        ProxyConfig config = ConfigLoader.parse(config("  - name: RequireUserHeader\n"));

        ConfigException problems = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
                () -> PowerProxy.pluginRegistry(Map.of("POWERPROXY_PLUGINS_DIR", work.resolve("none").toString()))
                        .createAll(config));

        assertTrue(problems.problems().get(0).startsWith("plugins[0].name: unknown plugin 'RequireUserHeader'; known: "));
        assertTrue(problems.problems().get(0).contains("AllowDeployments"), problems.problems().get(0));
    }
}
