package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.plugins.LogUsageToCsvFile;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A client with a valid key cannot forge a line of the access log or a row of a usage file: deployment names Azure
 * could not have are refused before anything else happens, and every other value a client or an upstream chose is
 * escaped. Requests go over a raw socket, because HTTP clients refuse to send most of them.
 */
class LogForgeryTest {

    private static final String FORGED = "INFO  access - 0000000000000000 POST /x client=Team B";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @TempDir
    Path logDir;

    @BeforeEach
    void startAzure() {
        azure.stubFor(any(anyUrl()).willReturn(okJson(
                "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}")));
    }

    @Test
    void aDeploymentWithAnEncodedLineBreakInThePathIsRefusedWith400AndReachesNoUpstream() throws Exception {
        String answer;
        try (CapturedLogs logs = CapturedLogs.start()) {
            try (ProxyHarness proxy = proxyWithCsv()) {
                answer = post(proxy, "/openai/deployments/gpt-4o%0d%0a" + FORGED.replace(" ", "%20")
                        + "/chat/completions?api-version=2024-10-21", "{}");
            }
            assertAllPrintable(accessLines(logs));
            assertEquals(1, accessLines(logs).size(), String.join("\n", logs.lines()));
            assertTrue(accessLines(logs).getFirst().contains("%0d%0a"), accessLines(logs).getFirst());
        }

        assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        assertTrue(answer.contains("\"code\":\"InvalidDeploymentName\""), answer);
        assertTrue(answer.contains("letters, digits, '-', '_' or '.'"), answer);
        assertTrue(answer.contains("gpt-4o\\\\r\\\\n"), "the name is shown escaped: " + answer);
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
        assertEquals(List.of(), csvFiles());
    }

    @Test
    void aV1ModelWithALineBreakIsRefusedWith400AndReachesNoUpstream() throws Exception {
        String answer;
        try (CapturedLogs logs = CapturedLogs.start()) {
            try (ProxyHarness proxy = proxyWithCsv()) {
                answer = post(proxy, "/openai/v1/chat/completions",
                        "{\"model\":\"gpt-4o\\r\\n" + FORGED + "\",\"messages\":[]}");
            }
            assertAllPrintable(accessLines(logs));
            assertTrue(accessLines(logs).getFirst().contains("deployment=- "), accessLines(logs).getFirst());
        }

        assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        assertTrue(answer.contains("\"code\":\"InvalidDeploymentName\""), answer);
        assertTrue(answer.contains("in the body's model"), answer);
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt%204o", "gpt@evil.example", "gpt-4o%07", "%C3%A9clair", "gpt%2B4o",
            "a123456789b123456789c123456789d123456789e123456789f123456789g1234"})
    void deploymentNamesAzureCouldNotHaveAreRefusedWith400(String encodedName) throws Exception {
        String answer;
        try (ProxyHarness proxy = proxyWithCsv()) {
            answer = post(proxy, "/openai/deployments/" + encodedName + "/chat/completions?api-version=2024-10-21",
                    "{}");
        }

        assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        assertTrue(answer.contains("\"code\":\"InvalidDeploymentName\""), answer);
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt-4o", "gpt-4.1-mini", "My_Deployment.v2", "o3",
            "a123456789b123456789c123456789d123456789e123456789f123456789g123"})
    void deploymentNamesAzureAllowsAreServedInThePathAndAsV1Model(String name) throws Exception {
        String inPath;
        String asModel;
        try (ProxyHarness proxy = proxyWithCsv()) {
            inPath = post(proxy, "/openai/deployments/" + name + "/chat/completions?api-version=2024-10-21", "{}");
            asModel = post(proxy, "/openai/v1/chat/completions", "{\"model\":\"" + name + "\",\"messages\":[]}");
        }

        assertTrue(inPath.startsWith("HTTP/1.1 200"), inPath);
        assertTrue(asModel.startsWith("HTTP/1.1 200"), asModel);
        assertEquals(1, azure.findAll(anyRequestedFor(urlPathEqualTo(
                "/openai/deployments/" + name + "/chat/completions"))).size());
        assertEquals(1, azure.findAll(anyRequestedFor(urlPathEqualTo("/openai/v1/chat/completions"))).size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"2024-10-21%0a" + "forged", "2024-10-21%0d%0a", "%e9", "2024-10-21%20", ""})
    void anApiVersionThatIsNoApiVersionIsRefusedWith400AndReachesNoUpstream(String encodedVersion) throws Exception {
        String answer;
        try (ProxyHarness proxy = proxyWithCsv()) {
            answer = post(proxy, "/openai/deployments/gpt-4o/chat/completions?api-version=" + encodedVersion, "{}");
        }

        assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        assertTrue(answer.contains("\"code\":\"InvalidApiVersion\""), answer);
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
        assertEquals(List.of(), csvFiles());
    }

    @Test
    void aMethodWithAControlCharacterIsRefusedWith400AndLoggedEscaped() throws Exception {
        String answer;
        try (CapturedLogs logs = CapturedLogs.start()) {
            try (ProxyHarness proxy = proxyWithCsv()) {
                answer = raw(proxy, "PO\u0007ST /openai/deployments/gpt-4o/chat/completions HTTP/1.1\r\n"
                        + "Host: localhost\r\napi-key: " + Configs.TEAM_A_KEY + "\r\nConnection: close\r\n\r\n");
            }
            if (answer.startsWith("HTTP/1.1 400") && !answer.contains("\"code\"")) {
                // Newer JDK builds (Debian's OpenJDK 21.0.13 here) refuse such a request line themselves, with an
                // HTML 400, before any handler runs: nothing is logged and nothing goes upstream.
                assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
                return;
            }
            assertAllPrintable(logs.lines());
            assertTrue(accessLines(logs).getFirst().contains(" PO\\u0007ST /openai/"), accessLines(logs).getFirst());
        }

        assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        assertTrue(answer.contains("\"code\":\"InvalidMethod\""), answer);
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void valuesTheUpstreamReportsReachTheCsvFileAndTheAccessLogEscaped() throws Exception {
        azure.stubFor(any(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions")).willReturn(okJson(
                "{\"model\":\"gpt-4o\\r\\n2026-12-06T00:00:00Z,Team B,false,1,1,2\\u0007\\u202e\\u2028\","
                        + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}")));
        String answer;
        try (CapturedLogs logs = CapturedLogs.start()) {
            try (ProxyHarness proxy = proxyWithCsv()) {
                answer = post(proxy, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", "{}");
                post(proxy, "/openai/files/a%0d%0a" + FORGED.replace(" ", "%20") + "?api-version=2024-10-21", "{}");
            }
            assertEquals(2, accessLines(logs).size(), String.join("\n", logs.lines()));
            assertAllPrintable(accessLines(logs));
        }

        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        List<Path> files = csvFiles();
        assertEquals(1, files.size());
        String csv = Files.readString(files.getFirst(), UTF_8);
        List<String> rows = List.of(csv.split("\r\n"));
        assertEquals(3, rows.size(), "a header and one row per request: " + csv);
        assertAllPrintable(rows);
        assertTrue(csv.contains("gpt-4o\\r\\n2026-12-06T00:00:00Z,Team B,false,1,1,2\\u0007\\u202e\\u2028"), csv);
    }

    private ProxyHarness proxyWithCsv() throws Exception {
        ProxyConfig config = ConfigLoader.parse("""
                clients:
                  - name: Team A
                    key: %s
                  - name: Team B
                    key: %s
                plugins:
                  - name: LogUsageToCsvFile
                    log_dir: '%s'
                aoai:
                  endpoints:
                    - name: Sweden
                      url: %s
                      key: %s
                """.formatted(Configs.TEAM_A_KEY, Configs.TEAM_B_KEY, logDir, azure.baseUrl(), Configs.ENDPOINT_KEY));
        return ProxyHarness.start(config,
                List.of(LogUsageToCsvFile.factory().create(new PluginContext(config.plugins().getFirst(), config))));
    }

    private static String post(ProxyHarness proxy, String target, String json) throws Exception {
        byte[] body = json.getBytes(UTF_8);
        return raw(proxy, "POST " + target + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\nConnection: close\r\n\r\n" + new String(body, StandardCharsets.ISO_8859_1));
    }

    private static String raw(ProxyHarness proxy, String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }

    private static List<String> accessLines(CapturedLogs logs) {
        return logs.lines().stream().filter(line -> line.startsWith("INFO io.powerproxy.access - ")).toList();
    }

    /** No line holds a control, line-separator or invisible formatting character. */
    private static void assertAllPrintable(List<String> lines) {
        assertFalse(lines.isEmpty());
        for (String line : lines) {
            line.codePoints().forEach(c -> {
                int type = Character.getType(c);
                assertFalse(type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                        || type == Character.PARAGRAPH_SEPARATOR, () -> "U+%04X in: %s".formatted(c, line));
            });
        }
    }

    private List<Path> csvFiles() throws Exception {
        try (Stream<Path> files = Files.list(logDir)) {
            return files.filter(file -> file.toString().endsWith(".csv")).toList();
        }
    }
}
