package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpResponse;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Request bodies over 1 MiB wait the endpoint's read and write timeouts together for the answer's headers. */
class LargeBodyWriteTimeoutTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    @BeforeEach
    void start() {
        // Answers after 2 s: later than the read timeout alone (1 s), well before read plus write (4 s).
        azure.stubFor(any(anyUrl()).willReturn(aResponse().withStatus(200).withFixedDelay(2_000)
                .withHeader("Content-Type", "application/json").withBody("{\"served\":true}")));
    }

    private ProxyHarness startProxy() {
        return ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: %s
                    connections:
                      timeouts:
                        read: 1
                        write: 3
                """.formatted(azure.baseUrl(), Configs.ENDPOINT_KEY)));
    }

    @Test
    void aBodyOverOneMebibyteGetsAnAnswerThatComesAfterTheReadTimeoutButWithinReadPlusWrite() throws Exception {
        char[] filler = new char[2 << 20];
        Arrays.fill(filler, 'a');
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + new String(filler) + "\"}]}";
        try (ProxyHarness proxy = startProxy()) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, body);

            assertEquals(200, response.statusCode(), response.body());
            assertEquals("{\"served\":true}", response.body());
        }
    }

    @Test
    void aSmallBodyWaitsOnlyTheReadTimeoutAndGets429() throws Exception {
        try (ProxyHarness proxy = startProxy()) {
            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{\"messages\":[]}");

            assertEquals(429, response.statusCode(), response.body());
            AuthenticationTest.assertAzureError(response, "TooManyRequests", "deployment 'gpt-4o'");
            azure.verify(1, anyRequestedFor(anyUrl()));
        }
    }
}
