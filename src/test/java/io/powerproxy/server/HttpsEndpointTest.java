package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.HttpsWireMock;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An endpoint on https, as every Azure endpoint is. The proxy runs in a child JVM, which trusts the test server's
 * certificate through {@code javax.net.ssl.trustStore} as an operator would add a company CA.
 */
class HttpsEndpointTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    @TempDir
    Path dir;

    @Test
    void aRequestIsForwardedOverTlsWithTheEndpointKeyAndItsAnswerPassedBack() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            azure.server().stubFor(post(urlEqualTo(CHAT)).willReturn(okJson("{\"served_by\":\"tls\"}")));
            Path config = Files.writeString(dir.resolve("config.yaml"), Configs.oneEndpoint(azure.baseUrl()));
            try (ChildProxy proxy = ChildProxy.start(config, List.of(
                    "-Djavax.net.ssl.trustStore=" + azure.trustStore(),
                    "-Djavax.net.ssl.trustStorePassword=" + HttpsWireMock.STORE_PASSWORD,
                    "-Djavax.net.ssl.trustStoreType=PKCS12"));
                    HttpClient client = HttpClient.newHttpClient()) {

                HttpResponse<String> response = client.send(HttpRequest.newBuilder(proxy.uri(CHAT))
                        .timeout(Duration.ofSeconds(30))
                        .header("api-key", Configs.TEAM_A_KEY)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"))
                        .build(), HttpResponse.BodyHandlers.ofString());

                assertEquals(200, response.statusCode(), response.body() + "\n" + proxy.tail());
                assertEquals("{\"served_by\":\"tls\"}", response.body());
                azure.server().verify(1, postRequestedFor(urlEqualTo(CHAT))
                        .withHeader("api-key", equalTo(Configs.ENDPOINT_KEY)));
            }
        }
    }
}
