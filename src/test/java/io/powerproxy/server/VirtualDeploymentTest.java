package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Virtual deployments are served by their stand-ins: the path, or the body's {@code model} where the path names none,
 * is rewritten.
 */
class VirtualDeploymentTest {

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();
    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{\"ok\":true}")));
        proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: %s
                    virtual_deployments:
                      - name: gpt-4o
                        standins:
                          - name: gpt-4o-paygo
                      - name: embeddings
                        standins:
                          - name: text-embedding-3-small
                """.formatted(azure.baseUrl(), Configs.ENDPOINT_KEY)));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void theDeploymentInThePathIsRewrittenToTheStandin() {
        HttpResponse<String> response = proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                Configs.TEAM_A_KEY, "{\"messages\":[]}");

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(urlEqualTo("/openai/deployments/gpt-4o-paygo/chat/completions?api-version=2024-10-21")));
    }

    @Test
    void unknownVirtualDeploymentGets404ListingTheConfiguredOnes() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/deployments/gpt-5/chat/completions?api-version=2024-10-21",
                Configs.TEAM_A_KEY, "{}");

        assertEquals(404, response.statusCode());
        AuthenticationTest.assertAzureError(response, "DeploymentNotFound", "'gpt-5'");
        AuthenticationTest.assertAzureError(response, "DeploymentNotFound", "gpt-4o, embeddings");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void v1RequestsHaveTheirModelRewrittenToTheStandin() {
        HttpResponse<String> response = proxy.postJson("/openai/v1/chat/completions",
                Configs.TEAM_A_KEY, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(urlEqualTo("/openai/v1/chat/completions"))
                .withRequestBody(equalToJson("{\"model\":\"gpt-4o-paygo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));
    }

    @Test
    void v1RequestForAnUnknownModelGets404() throws Exception {
        HttpResponse<String> response = proxy.postJson("/openai/v1/embeddings", Configs.TEAM_A_KEY,
                "{\"model\":\"ada\",\"input\":\"x\"}");

        assertEquals(404, response.statusCode());
        AuthenticationTest.assertAzureError(response, "DeploymentNotFound", "'ada'");
    }

    @Test
    void requestsThatNameNoDeploymentGoToTheEndpointUnchanged() {
        HttpResponse<String> response = proxy.send(proxy.request("/openai/v1/models")
                .header("api-key", Configs.TEAM_A_KEY).GET().build());
        HttpResponse<String> files = proxy.send(proxy.request("/openai/files?api-version=2024-10-21")
                .header("api-key", Configs.TEAM_A_KEY).POST(HttpRequest.BodyPublishers.ofString("{\"purpose\":\"batch\"}")).build());

        assertEquals(200, response.statusCode());
        assertEquals(200, files.statusCode());
        azure.verify(getRequestedFor(urlEqualTo("/openai/v1/models")));
        azure.verify(postRequestedFor(urlEqualTo("/openai/files?api-version=2024-10-21"))
                .withRequestBody(equalToJson("{\"purpose\":\"batch\"}")));
    }
}
