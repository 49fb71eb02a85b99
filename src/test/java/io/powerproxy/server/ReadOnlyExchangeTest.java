package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.tomakehurst.wiremock.WireMockServer;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A plugin cannot change what is billed: the client, deployment, target, status and streaming flag have no setter
 * a plugin can call (such a plugin does not compile), and what it can reach of the request and the answer is a copy
 * or read-only (trying to change it throws, or changes only the plugin's copy).
 */
class ReadOnlyExchangeTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_tokens\":50}";
    private static final String ANSWER = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-11-20",\
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],\
            "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}""";

    private WireMockServer azure;

    @BeforeEach
    void start() {
        azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(anyUrl()).willReturn(okJson(ANSWER).withHeader("x-ms-region", "Sweden Central")));
    }

    @AfterEach
    void stop() {
        azure.stop();
    }

    /** Tries everything a plugin can reach to change the request, the answer and the record; notes what each did. */
    private static final class Meddler implements Plugin {
        final Map<String, String> outcomes = new LinkedHashMap<>();
        final List<String> bodiesSeen = new CopyOnWriteArrayList<>();

        private void attempt(String what, Runnable change) {
            try {
                change.run();
                outcomes.put(what, "changed");
            } catch (RuntimeException e) {
                outcomes.put(what, e.getClass().getSimpleName());
            }
        }

        @Override
        public void onClientIdentified(Exchange exchange) {
            attempt("the JSON body", () -> ((ObjectNode) exchange.requestJson()).put("max_tokens", 1).put("messages", "x"));
            bodiesSeen.add(exchange.requestJson().toString());
            attempt("the body bytes", () -> exchange.requestBody().put(0, (byte) '['));
            attempt("the body's array", () -> exchange.requestBody().array()[0] = '[');
            attempt("the request headers", () -> exchange.requestHeaders().put("api-key", List.of("other")));
            attempt("a request header's values", () -> exchange.requestHeaders().get("api-key").set(0, "other"));
            attempt("the client's settings", () -> exchange.client().settings().put("name", "Team B"));
            attempt("the core's state, by a cast", () -> ((ExchangeState) (Object) exchange).client(null));
        }

        @Override
        public void onResponseHeaders(Exchange exchange) {
            attempt("the response headers", () -> exchange.responseHeaders().put("x-ms-region", List.of("Elsewhere")));
            attempt("a response header's values", () -> exchange.responseHeaders().get("x-ms-region").set(0, "Elsewhere"));
        }

        @Override
        public void onResponseBody(Exchange exchange, ByteBuffer body) {
            attempt("the answer's bytes", () -> body.put(0, (byte) 'X'));
            attempt("the answer's array", () -> body.array()[0] = 'X');
        }
    }

    @Test
    void aPluginThatTriesToChangeTheBodyTheAnswerOrTheClientChangesNeitherTheAnswerNorTheUsageRecord() throws Exception {
        Meddler meddler = new Meddler();
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(meddler, recorder))) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, BODY);

            assertEquals(200, response.statusCode());
            assertEquals(ANSWER, response.body());
            assertEquals(BODY, azure.getAllServeEvents().getFirst().getRequest().getBodyAsString(), "sent as received");
            UsageRecord record = recorder.await(1).getFirst();
            assertEquals("Team A", record.client());
            assertEquals("gpt-4o", record.aoaiVirtualDeployment());
            assertEquals("Sweden", record.aoaiEndpoint());
            assertEquals(200, record.statusCode());
            assertEquals(10, record.totalTokens());
            assertEquals("Sweden Central", record.aoaiRegion());
        }
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("the JSON body", "changed");
        expected.put("the body bytes", "ReadOnlyBufferException");
        expected.put("the body's array", "ReadOnlyBufferException");
        expected.put("the request headers", "UnsupportedOperationException");
        expected.put("a request header's values", "UnsupportedOperationException");
        expected.put("the client's settings", "UnsupportedOperationException");
        expected.put("the core's state, by a cast", "ClassCastException");
        expected.put("the response headers", "UnsupportedOperationException");
        expected.put("a response header's values", "UnsupportedOperationException");
        expected.put("the answer's bytes", "ReadOnlyBufferException");
        expected.put("the answer's array", "ReadOnlyBufferException");
        assertEquals(expected, meddler.outcomes);
        assertEquals(List.of("{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_tokens\":50}"),
                meddler.bodiesSeen, "the JSON a plugin changed was its own copy");
    }

    /** Each line a plugin might write to change what is billed; none compiles. */
    private static final Map<String, String> SETTERS = Map.of(
            "Client", "exchange.client(null)",
            "Deployment", "exchange.deployment(\"gpt-4o-mini\")",
            "Status", "exchange.status(201)",
            "Streaming", "exchange.streaming(false)",
            "Target", "exchange.target(\"other\", null)",
            "Body", "exchange.requestBody(new byte[0])",
            "ResponseHeaders", "exchange.responseHeaders(java.util.Map.of())",
            "Cast", "((io.powerproxy.pipeline.ExchangeState) exchange).status(201)",
            "View", "new io.powerproxy.pipeline.Exchange(null)");

    @Test
    void aPluginThatCallsASetterOfClientDeploymentTargetStatusStreamingOrBodyDoesNotCompile(@TempDir Path work)
            throws Exception {
        List<Path> sources = new ArrayList<>();
        Map<String, String> lines = new LinkedHashMap<>(SETTERS);
        lines.put("Reading", "exchange.client().name(); exchange.status(); exchange.requestBody().get(0)");
        for (Map.Entry<String, String> line : lines.entrySet()) {
            Path source = work.resolve("src/com/example/Set" + line.getKey() + ".java");
            Files.createDirectories(source.getParent());
            Files.writeString(source, """
                    package com.example;

                    import io.powerproxy.pipeline.Exchange;
                    import io.powerproxy.pipeline.Plugin;

                    public final class Set%s implements Plugin {
                        @Override
                        public void onClientIdentified(Exchange exchange) {
                            %s;
                        }
                    }
                    """.formatted(line.getKey(), line.getValue()));
            sources.add(source);
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT, StandardCharsets.UTF_8)) {
            javac.getTask(null, files, diagnostics, List.of("--release", "21", "-proc:none", "-cp",
                    System.getProperty("java.class.path"), "-d", work.resolve("classes").toString()), null,
                    files.getJavaFileObjectsFromPaths(sources)).call();
        }
        Map<String, List<String>> errors = new LinkedHashMap<>();
        for (Diagnostic<? extends JavaFileObject> diagnostic : diagnostics.getDiagnostics()) {
            if (diagnostic.getKind() == Diagnostic.Kind.ERROR) {
                String file = Path.of(diagnostic.getSource().toUri()).getFileName().toString();
                errors.computeIfAbsent(file.substring(3, file.length() - ".java".length()), k -> new ArrayList<>())
                        .add(diagnostic.getMessage(Locale.ROOT));
            }
        }

        assertEquals(SETTERS.keySet(), errors.keySet(), "every setter line fails, the reading one compiles: " + errors);
        assertTrue(errors.get("Cast").getFirst().contains("incompatible types"), errors.get("Cast").toString());
        assertTrue(errors.get("Status").getFirst().contains("cannot be applied"), errors.get("Status").toString());
    }
}
