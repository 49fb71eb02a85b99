package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.compatFixture;
import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The original's config format, through a fixture shaped like its example (placeholders and all). */
class ConfigCompatibilityTest {

    @Test
    void theUnfilledExampleReportsEachPlaceholderWithItsPathAndNothingElse() {
        String script = "('<will be set by deployment script>')";

        assertEquals(List.of(
                "plugins[1].redis.redis_host is still a placeholder " + script + ": fill it in",
                "plugins[1].redis.redis_password is still a placeholder: fill it in",
                "plugins[4].log_ingestion_endpoint is still a placeholder " + script + ": fill it in",
                "plugins[4].data_collection_rule_id is still a placeholder " + script + ": fill it in",
                "plugins[4].credential_tenant_id is still a placeholder ('___'): fill it in",
                "plugins[4].credential_client_id is still a placeholder ('___'): fill it in",
                "plugins[4].credential_client_secret is still a placeholder: fill it in",
                "aoai.endpoints[0].url is still a placeholder ('https://___.openai.azure.com/'): fill it in",
                "aoai.endpoints[0].key is still a placeholder: fill it in",
                "aoai.endpoints[1].url is still a placeholder ('https://___.openai.azure.com/'): fill it in",
                "aoai.endpoints[1].key is still a placeholder: fill it in",
                "azure_subscription_id is still a placeholder ('___'): fill it in",
                "region is still a placeholder ('___'): fill it in",
                "resource_group is still a placeholder ('___'): fill it in",
                "unique_prefix is still a placeholder ('___'): fill it in",
                "user_assigned_managed_identity_client_id is still a placeholder " + script + ": fill it in"),
                problems(compatFixture()));
    }

    @Test
    void theFilledExampleRoutesByHeadroomWithTheDefaultsAndSharesNothingThroughRedis() {
        assertEquals(HeadroomConfig.DEFAULTS, load(filled()).aoai().headroom());
    }

    @Test
    void theFilledExampleLoadsItsClients() {
        List<ClientConfig> clients = load(filled()).clients();

        assertEquals(List.of("Team 1", "Team 2", "Test Script Client 1", "Test Script Client 2", "Entra ID Auth Client"),
                clients.stream().map(ClientConfig::name).toList());
        assertEquals("The first example team.", clients.get(0).description());
        assertEquals("5d0c3a8e91f24b7aa06e2f4c19b8d3e", clients.get(0).key());
        for (ClientConfig client : clients) {
            assertEquals(List.of("gpt-35-turbo", "gpt-4o"), client.deploymentsAllowed(), client.name());
        }
        assertEquals(Map.of("gpt-35-turbo", 20, "gpt-4o", 5), clients.get(0).settings().get("max_tokens_per_minute_in_k"));
        assertEquals(30, clients.get(1).settings().get("max_tokens_per_minute_in_k"));
        ClientConfig entra = clients.get(4);
        assertTrue(entra.usesEntraIdAuth());
        assertNull(entra.key());
        assertEquals(10, entra.settings().get("max_tokens_per_minute_in_k"));
        assertEquals("clients[4]", entra.path());
    }

    @Test
    void theFilledExampleLoadsItsPlugins() {
        List<PluginConfig> plugins = load(filled()).plugins();

        assertEquals(List.of("AllowDeployments", "LimitUsage", "LogUsageToConsole", "LogUsageToCsvFile",
                "LogUsageToLogAnalytics"), plugins.stream().map(PluginConfig::name).toList());
        assertEquals(Map.of("redis", Map.of("redis_host", "redis.example.net", "redis_password", "redis-password-0123")),
                plugins.get(1).settings());
        assertEquals(Map.of(
                "log_ingestion_endpoint", "https://dce-1.swedencentral-1.ingest.monitor.azure.com",
                "data_collection_rule_id", "dcr-00000000000000000000000000000000",
                "credential_tenant_id", "tenant-id-0000",
                "credential_client_id", "client-id-0000",
                "credential_client_secret", "client-secret-0123456789"), plugins.get(4).settings());
    }

    @Test
    void theFilledExampleLoadsItsEndpoints() {
        ProxyConfig config = load(filled());
        AoaiConfig aoai = config.aoai();

        assertEquals("(?!x-)", aoai.forwardHeaderOnlyIfNameMatches().pattern());
        assertNull(aoai.mockResponse());
        assertEquals("managed-identity-client-id-0000", config.userAssignedManagedIdentityClientId());

        EndpointConfig some = aoai.endpoints().get(0);
        assertEquals("Some Endpoint", some.name());
        assertEquals(URI.create("https://aoai-sweden.openai.azure.com"), some.url());
        assertEquals("endpoint-key-sweden-0123456789", some.key());
        assertEquals(0.5, some.nonStreamingFraction());
        assertEquals(0, some.priority());
        assertEquals(1.0, some.weight());
        assertEquals(ConnectionLimits.DEFAULTS, some.limits());
        assertEquals(Timeouts.DEFAULTS, some.timeouts());
        assertEquals(List.of("gpt-35-turbo", "gpt-4o"),
                some.virtualDeployments().stream().map(VirtualDeploymentConfig::name).toList());
        VirtualDeploymentConfig gpt35 = some.virtualDeployments().getFirst();
        assertEquals(List.of(
                new StandinConfig("gpt-35-turbo-ptu", 0.2, 0, 1, "aoai.endpoints[0].virtual_deployments[0].standins[0]"),
                new StandinConfig("gpt-35-turbo-paygo", 1, 1, 1, "aoai.endpoints[0].virtual_deployments[0].standins[1]")),
                gpt35.standins());

        EndpointConfig another = aoai.endpoints().get(1);
        assertEquals("Another Endpoint", another.name());
        assertEquals(URI.create("https://aoai-france.openai.azure.com"), another.url());
        assertEquals(1, another.priority());
        assertEquals(new ConnectionLimits(50, 10, Duration.ofMillis(2500)), another.limits());
        assertEquals(new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(30),
                Duration.ofSeconds(10)), another.timeouts());
        assertEquals(List.of(0.0, 1.0), another.virtualDeployments().get(1).standins().stream()
                .map(StandinConfig::nonStreamingFraction).toList());
    }

    @Test
    void theFixtureCoversEveryKeyOfTheOriginalsExample() {
        // Keys in comments do not count, except those of mock_response, which the original's example also keeps
        // commented out; they count because the block, uncommented, loads (see the next test).
        String keys = withoutComments(filled()) + withoutComments(withMockResponseUncommented(filled()));

        for (String key : List.of("clients:", "name:", "description:", "key:", "deployments_allowed:",
                "max_tokens_per_minute_in_k:", "uses_entra_id_auth:", "plugins:", "redis:", "redis_host:",
                "redis_password:", "log_ingestion_endpoint:", "data_collection_rule_id:", "credential_tenant_id:",
                "credential_client_id:", "credential_client_secret:", "aoai:", "forward_http_header_only_if_name_matches:",
                "endpoints:", "url:", "non_streaming_fraction:", "connections:", "limits:", "max_connections:",
                "max_keepalive_connections:", "keepalive_expiry:", "timeouts:", "connect:", "read:", "write:", "pool:",
                "virtual_deployments:", "standins:", "mock_response:", "ms_to_wait_before_return:", "json:",
                "azure_subscription_id:", "region:", "resource_group:", "unique_prefix:",
                "user_assigned_managed_identity_client_id:")) {
            assertTrue(keys.contains(key), key);
        }
        assertFalse(filled().contains("___"));
        assertFalse(filled().contains("<will be set by deployment script>"));
    }

    @Test
    void theFixturesCommentedMockResponseLoadsOnceUncommented() {
        ProxyConfig config = load(withMockResponseUncommented(filled()));

        assertEquals(Duration.ofMillis(1000), config.aoai().mockResponse().waitBeforeReturn());
        assertTrue(config.aoai().mockResponse().json().contains("A mock answer, not one from Azure OpenAI."));
    }

    /** The fixture with the comment marks taken off its mock_response block. */
    private static String withMockResponseUncommented(String yaml) {
        StringBuilder out = new StringBuilder();
        boolean inBlock = false;
        for (String line : yaml.split("\n", -1)) {
            inBlock = line.startsWith("  # mock_response:") || (inBlock && line.startsWith("  #   "));
            out.append(inBlock ? "  " + line.substring(4) : line).append('\n');
        }
        return out.toString();
    }

    private static String withoutComments(String yaml) {
        StringBuilder out = new StringBuilder();
        for (String line : yaml.split("\n")) {
            if (!line.stripLeading().startsWith("#")) {
                out.append(line).append('\n');
            }
        }
        return out.toString();
    }

    /** The fixture with its placeholders filled in, as a deployment would. */
    private static String filled() {
        String text = compatFixture();
        String[] replacements = {
            "redis_host: <will be set by deployment script>", "redis_host: redis.example.net",
            "redis_password: <will be set by deployment script>", "redis_password: redis-password-0123",
            "log_ingestion_endpoint: <will be set by deployment script>",
            "log_ingestion_endpoint: https://dce-1.swedencentral-1.ingest.monitor.azure.com",
            "data_collection_rule_id: <will be set by deployment script>",
            "data_collection_rule_id: dcr-00000000000000000000000000000000",
            "credential_tenant_id: ___", "credential_tenant_id: tenant-id-0000",
            "credential_client_id: ___", "credential_client_id: client-id-0000",
            "credential_client_secret: ___", "credential_client_secret: client-secret-0123456789",
            "url: https://___.openai.azure.com/", "url: https://aoai-sweden.openai.azure.com/",
            "key: ___", "key: endpoint-key-sweden-0123456789",
            "url: https://___.openai.azure.com/", "url: https://aoai-france.openai.azure.com/",
            "key: ___", "key: endpoint-key-france-0123456789",
            "azure_subscription_id: ___", "azure_subscription_id: 00000000-0000-0000-0000-000000000000",
            "region: ___", "region: swedencentral",
            "resource_group: ___", "resource_group: PowerProxy-AOAI",
            "unique_prefix: ___", "unique_prefix: abcde",
            "user_assigned_managed_identity_client_id: <will be set by deployment script>",
            "user_assigned_managed_identity_client_id: managed-identity-client-id-0000",
        };
        for (int i = 0; i < replacements.length; i += 2) {
            int at = text.indexOf(replacements[i]);
            assertTrue(at >= 0, "the fixture no longer contains " + replacements[i]);
            text = text.substring(0, at) + replacements[i + 1] + text.substring(at + replacements[i].length());
        }
        return text;
    }
}
