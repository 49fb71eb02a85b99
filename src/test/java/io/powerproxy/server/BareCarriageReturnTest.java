package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the JDK server does with a bare CR inside a header value, pinned so that a change of the JDK shows up: it
 * ends the header there and starts a new one (a CR followed by a space or tab folds into the value instead). A
 * handler only sees the split headers, so the proxy cannot refuse such a request; it applies its header rules to
 * the split headers as to any other, so nothing a client hides behind a bare CR passes them. Newer JDK builds (Debian's
 * OpenJDK 21.0.13 here) refuse a bare CR themselves with an HTML 400 ("Invalid CR in request header"); on those the
 * tests check that such a request reaches no upstream.
 */
class BareCarriageReturnTest {

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{}")));
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void aBareCrInsideAHeaderValueEndsThatHeaderAndStartsAnother() throws Exception {
        String answer = get("X-Note: a\rapi-key: " + Configs.TEAM_A_KEY + "\r\n");
        if (refusedByTheJdk(answer)) {
            return;
        }

        assertTrue(answer.startsWith("HTTP/1.1 200"), "the key after the bare CR identified the client: " + answer);
        LoggedRequest forwarded = onlyRequest();
        assertEquals("a", forwarded.getHeader("X-Note"));
        assertEquals(Configs.ENDPOINT_KEY, forwarded.getHeader("api-key"), "the client's key is replaced as always");
    }

    @Test
    void aBareCrFollowedByASpaceFoldsIntoTheValueAsOneSpace() throws Exception {
        String answer = get("api-key: " + Configs.TEAM_A_KEY + "\r\nX-Note: a\r b\r\n");
        if (refusedByTheJdk(answer)) {
            return;
        }

        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertEquals("a b", onlyRequest().getHeader("X-Note"));
    }

    @Test
    void aHostHiddenBehindABareCrIsNotForwarded() throws Exception {
        String answer = get("api-key: " + Configs.TEAM_A_KEY + "\r\nX-Note: a\rHost: evil.example\r\n");
        if (refusedByTheJdk(answer)) {
            return;
        }

        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertEquals(URI.create(azure.baseUrl()).getAuthority(), onlyRequest().getHeader("Host"));
    }

    @Test
    void aSecondKeyHiddenBehindABareCrDoesNotChangeTheClient() throws Exception {
        try (CapturedLogs logs = CapturedLogs.start()) {
            String answer = get("api-key: " + Configs.TEAM_A_KEY + "\r\nX-Note: a\rapi-key: " + Configs.TEAM_B_KEY
                    + "\r\n");
        if (refusedByTheJdk(answer)) {
            return;
        }
            proxy.close();
            proxy = null;

            assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            List<String> access = logs.containing("io.powerproxy.access - ");
            assertEquals(1, access.size(), String.join("\n", logs.lines()));
            assertTrue(access.getFirst().contains(" client=Team A "), access.getFirst());
            assertEquals(Configs.ENDPOINT_KEY, onlyRequest().getHeader("api-key"));
        }
    }

    private LoggedRequest onlyRequest() {
        List<LoggedRequest> requests = azure.findAll(anyRequestedFor(anyUrl()));
        assertEquals(1, requests.size());
        return requests.getFirst();
    }

    private String get(String headers) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /openai/models?api-version=2024-10-21 HTTP/1.1\r\nHost: localhost\r\n" + headers
                    + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return RawHttp.readAnswer(socket.getInputStream());
        }
    }

    /** Whether this runtime's server refused the bare CR itself; then nothing may have reached the upstream. */
    private boolean refusedByTheJdk(String answer) {
        if (!answer.startsWith("HTTP/1.1 400") || !answer.contains("Invalid CR")) {
            return false;
        }
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size(), "nothing reached the upstream");
        return true;
    }
}
