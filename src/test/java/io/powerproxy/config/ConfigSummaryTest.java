package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.load;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigSummaryTest {

    private static final String CONFIG = """
            clients:
              - name: Team 1
                key: team-1-secret-key-AB12
                deployments_allowed: gpt-4o, gpt-35-turbo
                max_tokens_per_minute_in_k: {gpt-4o: 5}
                personal_api_key: team-1-other-secret-CD34
              - name: Team 2
                key: short
              - name: Entra
                uses_entra_id_auth: true
            plugins:
              - name: AllowDeployments
              - name: LimitUsage
                redis:
                  redis_host: redis.example.net
                  redis_password: redis-secret-password-EF56
              - name: LogUsageToLogAnalytics
                credential_client_id: client-id-0000
                credential_client_secret: client-secret-value-GH78
                tables: [usage, errors]
            aoai:
              forward_http_header_only_if_name_matches: (?!x-)
              endpoints:
                - name: Sweden
                  url: https://sweden.openai.azure.com/
                  key: endpoint-secret-key-IJ90
                  non_streaming_fraction: 0.25
                  weight: 2
                  connections:
                    limits: {max_connections: 50, keepalive_expiry: 2.5}
                    timeouts: {read: 60}
                    http2: true
                  virtual_deployments:
                    - name: gpt-4o
                      standins:
                        - name: gpt-4o-ptu
                          non_streaming_fraction: 0.2
                        - name: gpt-4o-paygo
                - name: France
                  url: https://france.openai.azure.com/
              mock_response:
                ms_to_wait_before_return: 250
                json: {"id": "x"}
            user_assigned_managed_identity_client_id: identity-0000
            """;

    @Test
    void theSummaryListsClientsPluginsEndpointsStandinsAndTheMock() {
        String summary = ConfigSummary.describe(load(CONFIG));

        assertEquals("""
                clients (3):
                  - Team 1: key ****AB12, deployments allowed: gpt-4o, gpt-35-turbo, max_tokens_per_minute_in_k \
                {gpt-4o 5}, personal_api_key ****CD34
                  - Team 2: key ****, deployments allowed: (not set)
                  - Entra: Entra ID, deployments allowed: (not set)
                plugins (3):
                  - AllowDeployments
                  - LimitUsage: redis {redis_host redis.example.net, redis_password ****EF56}
                  - LogUsageToLogAnalytics: credential_client_id client-id-0000, credential_client_secret ****GH78, \
                tables [usage, errors]
                managed identity for Azure: user-assigned, client id identity-0000
                forwarded request headers: names matching (?!x-)
                endpoints (2):
                  - Sweden: https://sweden.openai.azure.com, key ****IJ90, non_streaming_fraction 0.25, priority 0, \
                weight 2, max_connections 50, max_keepalive_connections 20, keepalive_expiry 2.5s, timeouts connect 15s \
                read 60s write 120s pool 120s, http2
                      virtual deployment gpt-4o:
                        - stand-in gpt-4o-ptu: non_streaming_fraction 0.2, priority 0, weight 1
                        - stand-in gpt-4o-paygo: non_streaming_fraction 1, priority 1, weight 1
                  - France: https://france.openai.azure.com, Entra ID token, non_streaming_fraction 1, priority 1, \
                weight 1, max_connections 100, max_keepalive_connections 20, keepalive_expiry 5s, timeouts connect 15s \
                read 120s write 120s pool 120s
                mock response: every request is answered by the proxy after 250 ms with 10 characters of JSON""",
                summary);
    }

    @Test
    void theSummaryShowsNoSecret() {
        String summary = ConfigSummary.describe(load(CONFIG));

        for (String secret : List.of("team-1-secret-key", "team-1-other-secret", "short", "redis-secret-password",
                "client-secret-value", "endpoint-secret-key")) {
            assertFalse(summary.contains(secret), secret);
        }
    }

    @Test
    void theSummaryOfAConfigWithoutMockOrFilterSaysSo() {
        String summary = ConfigSummary.describe(load(ConfigTestSupport.ONE_CLIENT + ConfigTestSupport.ONE_ENDPOINT));

        assertTrue(summary.contains("plugins (0):\n"), summary);
        assertTrue(summary.contains("managed identity for Azure: DefaultAzureCredential\n"), summary);
        assertTrue(summary.contains("forwarded request headers: all\n"), summary);
        assertFalse(summary.contains("mock response"), summary);
    }
}
