package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.absent;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FixedTokenCredential;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import io.powerproxy.upstream.CachedTokenSource;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Clients are identified by their own key or token, and the upstream gets the endpoint's credentials. */
class AuthenticationTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{\"ok\":true}")));
    }

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void missingCredentialsGet401AndNothingReachesTheUpstream() throws Exception {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(401, response.statusCode());
        assertAzureError(response, "Unauthorized", "api-key");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void unknownKeyGets401AndNothingReachesTheUpstream() throws Exception {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        HttpResponse<String> response = proxy.postJson(CHAT, "not-a-client-key", "{}");

        assertEquals(401, response.statusCode());
        assertAzureError(response, "Unauthorized", "not a key of any client");
        assertFalse(response.body().contains("not-a-client-key"));
        assertFalse(response.body().contains(Configs.TEAM_A_KEY));
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void aKnownKeyAsApiKeyPrefixOrSuffixIsNotAccepted() {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        assertEquals(401, proxy.postJson(CHAT, Configs.TEAM_A_KEY.substring(1), "{}").statusCode());
        assertEquals(401, proxy.postJson(CHAT, Configs.TEAM_A_KEY + "x", "{}").statusCode());
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void clientKeyAsBearerTokenIdentifiesTheClient() {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("Authorization", "Bearer " + Configs.TEAM_B_KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(anyUrl())
                .withHeader("api-key", equalTo(Configs.ENDPOINT_KEY))
                .withHeader("Authorization", absent()));
    }

    @Test
    void unknownBearerTokenWithoutAnEntraClientGets401ThatNamesTheSetting() throws Exception {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("Authorization", "Bearer eyJ0eXAiOiJKV1Qi.some.token")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(401, response.statusCode());
        assertAzureError(response, "Unauthorized", "uses_entra_id_auth");
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    @Test
    void basicAuthorizationIsRefused() throws Exception {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("Authorization", "Basic dXNlcjpwYXNz")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(401, response.statusCode());
        assertAzureError(response, "Unauthorized", "Bearer");
    }

    @Test
    void entraTokenIsPassedThroughToAnEndpointWithoutKey() {
        proxy = ProxyHarness.start(entraConfig(), () -> {
            throw new AssertionError("no managed-identity token may be asked for on pass-through");
        }, List.of());

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("Authorization", "Bearer user-entra-token")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(anyUrl())
                .withHeader("Authorization", equalTo("Bearer user-entra-token"))
                .withHeader("api-key", absent()));
    }

    @Test
    void anEntraTokenGoesUpstreamEvenToAnEndpointWithAKeySoThatAzureValidatesIt() {
        proxy = ProxyHarness.start("""
                clients:
                  - name: Team A
                    key: %s
                  - name: Entra Users
                    uses_entra_id_auth: true
                aoai:
                  endpoints:
                    - name: Keyed
                      url: %s
                      key: %s
                """.formatted(Configs.TEAM_A_KEY, azure.baseUrl(), Configs.ENDPOINT_KEY));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("Authorization", "Bearer not-validated-by-the-proxy")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(anyUrl())
                .withHeader("Authorization", equalTo("Bearer not-validated-by-the-proxy"))
                .withHeader("api-key", absent()));
    }

    @Test
    void keyClientsGetAManagedIdentityTokenForAnEndpointWithoutKey() {
        FixedTokenCredential credential = new FixedTokenCredential("mi-token-123");
        proxy = ProxyHarness.start(entraConfig(), CachedTokenSource.of(credential), List.of());

        HttpResponse<String> first = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");
        HttpResponse<String> second = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

        assertEquals(200, first.statusCode());
        assertEquals(200, second.statusCode());
        azure.verify(2, postRequestedFor(anyUrl())
                .withHeader("Authorization", equalTo("Bearer mi-token-123"))
                .withHeader("api-key", absent()));
        assertEquals(List.of(List.of("https://cognitiveservices.azure.com/.default")), credential.requestedScopes(),
                "the token is cached, not fetched per request");
    }

    @Test
    void failingCredentialGivesA500WithoutDetailsOfTheCredential() throws Exception {
        com.azure.core.credential.TokenCredential broken = new com.azure.core.credential.TokenCredential() {
            @Override
            public reactor.core.publisher.Mono<com.azure.core.credential.AccessToken> getToken(
                    com.azure.core.credential.TokenRequestContext request) {
                return reactor.core.publisher.Mono.error(new IllegalStateException("secret-detail"));
            }

            @Override
            public com.azure.core.credential.AccessToken getTokenSync(com.azure.core.credential.TokenRequestContext request) {
                throw new IllegalStateException("client_secret=secret-detail was rejected");
            }
        };
        proxy = ProxyHarness.start(entraConfig(), CachedTokenSource.of(broken), List.of());

        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

        assertEquals(500, response.statusCode());
        assertAzureError(response, "UpstreamAuthenticationFailed", "Entra ID token");
        assertFalse(response.body().contains("secret-detail"));
        assertEquals(0, azure.findAll(anyRequestedFor(anyUrl())).size());
    }

    private String entraConfig() {
        return """
                clients:
                  - name: Team A
                    key: %s
                  - name: Entra Users
                    uses_entra_id_auth: true
                aoai:
                  endpoints:
                    - name: Keyless
                      url: %s
                """.formatted(Configs.TEAM_A_KEY, azure.baseUrl());
    }

    static void assertAzureError(HttpResponse<String> response, String code, String messagePart) throws Exception {
        assertTrue(response.headers().firstValue("content-type").orElse("").startsWith("application/json"));
        JsonNode error = JSON.readTree(response.body()).get("error");
        assertEquals(code, error.get("code").asText(), response.body());
        assertTrue(error.get("message").asText().contains(messagePart), response.body());
        assertFalse(response.body().contains(Configs.ENDPOINT_KEY));
    }
}
