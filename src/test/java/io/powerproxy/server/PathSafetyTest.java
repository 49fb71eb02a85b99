package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * No request path can make the proxy call another host or climb out of the endpoint's path. Requests are
 * written on a raw socket, because HTTP clients normalise such paths before sending them.
 */
class PathSafetyTest {

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension evil = WireMockUpstream.extension();

    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{}")));
        evil.stubFor(any(anyUrl()).willReturn(okJson("{\"stolen\":true}")));
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl() + "/base/"));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "//127.0.0.1:%d/openai/models",
            "http://127.0.0.1:%d/openai/models",
            "/openai/../../x",
            "/openai/%%2e%%2e/%%2E%%2E/x",
            "/openai/deployments/..%%2f..%%2fx/chat/completions",
            "/openai%%5C..%%5Cx",
            "/openai/%%5c..%%5cx/chat",
            "/openai/./models",
    })
    void dangerousPathsAreRefusedWith400InvalidPathAndReachNoUpstream(String template) throws Exception {
        String path = template.formatted(evil.getPort());

        String response = rawRequest("POST " + path + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");

        assertTrue(response.startsWith("HTTP/1.1 400"), path + " → " + response);
        // Debian's OpenJDK 21.0.13 (the test matrix's Java 21) refuses a "//host" target itself ("Bad request URI",
        // HTML) before the proxy sees it; every other runtime and case must get the proxy's own answer.
        boolean refusedByThisJdk = Runtime.version().feature() < 24 && path.startsWith("//")
                && response.contains("Bad request URI");
        assertTrue(refusedByThisJdk || response.contains("{\"error\":{\"code\":\"InvalidPath\""),
                path + " → " + response);
        assertEquals(0, evil.findAll(anyRequestedFor(anyUrl())).size());
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    /** A literal backslash is no legal URI character: the JDK's server refuses the request line before the proxy. */
    @Test
    void aLiteralBackslashIsRefusedWith400ByTheServerAndReachesNoUpstream() throws Exception {
        String response = rawRequest("POST /openai\\..\\x HTTP/1.1\r\nHost: localhost\r\napi-key: "
                + Configs.TEAM_A_KEY + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                + "Connection: close\r\n\r\n{}");

        assertTrue(response.startsWith("HTTP/1.1 400"), response);
        assertEquals(0, evil.findAll(anyRequestedFor(anyUrl())).size());
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"/@127.0.0.1:%d/openai/models", "/openai/models@127.0.0.1:%d"})
    void anAtSignStaysPartOfThePathOnTheConfiguredEndpoint(String template) throws Exception {
        String path = template.formatted(evil.getPort());

        String response = rawRequest("GET " + path + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nConnection: close\r\n\r\n");

        assertTrue(response.startsWith("HTTP/1.1 200"), response);
        assertEquals(0, evil.findAll(anyRequestedFor(anyUrl())).size());
        List<LoggedRequest> seen = azure.findAll(anyRequestedFor(anyUrl()));
        assertEquals(1, seen.size());
        assertEquals("/base" + path, seen.get(0).getUrl());
    }

    private String rawRequest(String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
            StringBuilder all = new StringBuilder();
            String line;
            while ((line = in.readLine()) != null) {
                all.append(line).append('\n');
            }
            return all.toString();
        }
    }
}
