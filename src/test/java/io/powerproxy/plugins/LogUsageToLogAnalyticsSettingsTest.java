package io.powerproxy.plugins;

import io.powerproxy.loganalytics.LogAnalyticsSettings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.FixedTokenCredential;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The settings of LogUsageToLogAnalytics: defaults, the credential choice, and a message with its path per mistake. */
class LogUsageToLogAnalyticsSettingsTest {

    private static final String SECRET = "sp-client-secret-never-shown-0123456789";
    private static final String ENDPOINT = "https://my-dce-a1b2.swedencentral-1.ingest.monitor.azure.com";
    private static final String RULE = "dcr-00112233445566778899aabbccddeeff";

    @TempDir
    Path dir;

    private PluginContext context(String pluginSettings, String topLevel) throws Exception {
        ProxyConfig config = ConfigLoader.parse("""
                clients:
                  - name: Team A
                    key: team-a-key-0123456789
                plugins:
                  - name: LogUsageToConsole
                  - name: LogUsageToLogAnalytics
                %s
                %s
                aoai:
                  mock_response:
                    json: {"ok": true}
                """.formatted(pluginSettings.indent(4).stripTrailing(), topLevel));
        return new PluginContext(config.plugins().get(1), config);
    }

    private PluginContext valid(String more, String topLevel) throws Exception {
        return context("""
                log_ingestion_endpoint: %s
                data_collection_rule_id: %s
                log_dir: '%s'
                %s""".formatted(ENDPOINT, RULE, dir, more), topLevel);
    }

    private List<String> problems(PluginContext context) {
        ConfigException e = assertThrows(ConfigException.class, () -> LogAnalyticsSettings.parse(context));
        for (String problem : e.problems()) {
            assertFalse(problem.contains(SECRET), "a message shows the secret: " + problem);
        }
        return e.problems();
    }

    @Test
    void theOriginalsTwoSettingsAreEnoughAndTheRestHasDefaults() throws Exception {
        LogAnalyticsSettings settings = LogAnalyticsSettings.parse(valid("", ""));

        assertEquals(ENDPOINT, settings.endpoint().toString());
        assertEquals(RULE, settings.ruleId());
        assertEquals("Custom-AzureOpenAIUsage_PP_CL", settings.streamName());
        assertNull(settings.servicePrincipal());
        assertFalse(settings.extendedColumns());
        assertEquals(dir.toAbsolutePath().normalize(), settings.logDir());
        assertEquals(500, settings.batchMaxRows());
        assertEquals(Duration.ofSeconds(2), settings.batchMaxAge());
        assertEquals(Duration.ofSeconds(60), settings.retryMax());
        assertEquals("DefaultAzureCredential", settings.credentialDescription());
    }

    @Test
    void theLogDirDefaultsToLogsInTheWorkingDirectory() throws Exception {
        LogAnalyticsSettings settings = LogAnalyticsSettings.parse(context("""
                log_ingestion_endpoint: %s
                data_collection_rule_id: %s""".formatted(ENDPOINT, RULE), ""));

        assertEquals(Path.of("logs").toAbsolutePath().normalize(), settings.logDir());
    }

    @Test
    void aServicePrincipalComesFirstThenTheUserAssignedIdentityThenDefaultAzureCredential() throws Exception {
        String principal = """
                credential_tenant_id: tenant-0000
                credential_client_id: client-0000
                credential_client_secret: %s""".formatted(SECRET);
        String identity = "user_assigned_managed_identity_client_id: mi-client-0000";

        LogAnalyticsSettings both = LogAnalyticsSettings.parse(valid(principal, identity));
        assertEquals("the service principal client-0000 of tenant tenant-0000 (client secret)",
                both.credentialDescription());
        assertEquals(SECRET, both.servicePrincipal().clientSecret());
        assertFalse(both.toString().contains(SECRET), both.toString());
        assertEquals("the user-assigned managed identity mi-client-0000",
                LogAnalyticsSettings.parse(valid("", identity)).credentialDescription());
        assertEquals("DefaultAzureCredential", LogAnalyticsSettings.parse(valid("", "")).credentialDescription());
    }

    @Test
    void emptyCredentialSettingsCountAsNoneAsInTheOriginal() throws Exception {
        LogAnalyticsSettings settings = LogAnalyticsSettings.parse(valid("""
                credential_tenant_id: ''
                credential_client_id: ''
                credential_client_secret: ''""", ""));

        assertNull(settings.servicePrincipal());
    }

    @Test
    void aServicePrincipalNeedsAllThreeCredentialSettings() throws Exception {
        assertEquals(List.of("plugins[1].credential_client_id is missing: credential_tenant_id, credential_client_secret"
                        + " are set, and a service principal needs all of credential_tenant_id, credential_client_id and"
                        + " credential_client_secret (or none of them, to use the managed identity or"
                        + " DefaultAzureCredential)"),
                problems(valid("""
                        credential_tenant_id: tenant-0000
                        credential_client_secret: %s""".formatted(SECRET), "")));
    }

    @Test
    void aSecretThatYamlReadsAsANumberIsRefusedWithoutShowingIt() throws Exception {
        List<String> problems = problems(valid("""
                credential_tenant_id: tenant-0000
                credential_client_id: client-0000
                credential_client_secret: 1234567890123""", ""));

        assertEquals(List.of("plugins[1].credential_client_secret must be text: put it in quotes so that YAML reads it"
                + " as written"), problems);
        assertFalse(problems.getFirst().contains("1234567890123"));
    }

    @Test
    void missingRequiredSettingsAreNamedWithTheirPaths() throws Exception {
        List<String> problems = problems(context("log_dir: '" + dir + "'", ""));

        assertEquals(2, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith("plugins[1].log_ingestion_endpoint is required: the logs ingestion"
                + " endpoint, e.g. https://"), problems.get(0));
        assertTrue(problems.get(1).startsWith("plugins[1].data_collection_rule_id is required: the immutable id of the"
                + " data collection rule (dcr-...)"), problems.get(1));
    }

    @Test
    void everyMistakeIsReportedAtOnceWithItsPath() throws Exception {
        List<String> problems = problems(context("""
                log_ingestion_endpoint: http://my-dce.swedencentral-1.ingest.monitor.azure.com
                data_collection_rule_id: /subscriptions/0000/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/r
                stream_name: AzureOpenAIUsage_PP_CL
                extended_columns: 'yes'
                log_dir: ''
                batch_max_rows: 0
                batch_max_seconds: 0
                retry_max_seconds: 0.5
                credential_client_secret: %s
                streamname: x""".formatted(SECRET), ""));

        assertEquals(List.of(
                "plugins[1].streamname is not a setting of LogUsageToLogAnalytics; its settings are: "
                        + String.join(", ", LogAnalyticsSettings.KEYS),
                "plugins[1].log_ingestion_endpoint must be an https URL without query, e.g."
                        + " https://my-dce-a1b2.swedencentral-1.ingest.monitor.azure.com (the \"Logs Ingestion\" endpoint"
                        + " of the data collection endpoint), got 'http://my-dce.swedencentral-1.ingest.monitor.azure.com'",
                "plugins[1].data_collection_rule_id must be the immutable id of the data collection rule (dcr- and"
                        + " letters and digits), shown by az monitor data-collection rule show --query immutableId, got"
                        + " '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Insights/dataCollectionRules/r';"
                        + " that looks like the rule's resource id, but the immutable id is needed",
                "plugins[1].stream_name must name a custom stream of the data collection rule (Custom- and letters,"
                        + " digits or _), e.g. Custom-AzureOpenAIUsage_PP_CL, got 'AzureOpenAIUsage_PP_CL'",
                "plugins[1].credential_tenant_id is missing: credential_client_secret is set, and a service principal"
                        + " needs all of credential_tenant_id, credential_client_id and credential_client_secret (or none"
                        + " of them, to use the managed identity or DefaultAzureCredential)",
                "plugins[1].credential_client_id is missing: credential_client_secret is set, and a service principal"
                        + " needs all of credential_tenant_id, credential_client_id and credential_client_secret (or none"
                        + " of them, to use the managed identity or DefaultAzureCredential)",
                "plugins[1].extended_columns must be true or false, got 'yes'",
                "plugins[1].log_dir must be the path of a directory, got ''",
                "plugins[1].batch_max_rows must be a whole number from 1 to 10000, got 0",
                "plugins[1].batch_max_seconds must be a number of seconds from 0.01 to 300, got 0",
                "plugins[1].retry_max_seconds must be a number of seconds from 1 to 3600, got 0.5"), problems);
    }

    @Test
    void aLogDirThatIsAFileCannotHoldTheSpool() throws Exception {
        Path file = Files.writeString(dir.resolve("not-a-directory"), "x");
        PluginContext context = context("""
                log_ingestion_endpoint: %s
                data_collection_rule_id: %s
                log_dir: '%s'""".formatted(ENDPOINT, RULE, file), "");

        ConfigException e = assertThrows(ConfigException.class, () -> LogUsageToLogAnalytics.create(context,
                new LogUsageToLogAnalytics.AzureAccess(null, new FixedTokenCredential("t"), null)));

        assertEquals(1, e.problems().size());
        assertTrue(e.problems().getFirst().startsWith("plugins[1].log_dir '" + file + "' cannot hold the spool "
                + file.resolve("loganalytics-spool")), e.problems().getFirst());
    }

    @Test
    void twoPluginsCannotShareASpool() throws Exception {
        PluginContext context = valid("", "");
        LogUsageToLogAnalytics.AzureAccess access = new LogUsageToLogAnalytics.AzureAccess(null,
                new FixedTokenCredential("t"), null);

        try (LogUsageToLogAnalytics first = LogUsageToLogAnalytics.create(context, access)) {
            ConfigException e = assertThrows(ConfigException.class, () -> LogUsageToLogAnalytics.create(context, access));
            assertTrue(e.getMessage().startsWith("plugins[1].log_dir '" + dir + "' cannot hold the spool"), e.getMessage());
            assertTrue(e.getMessage().contains("is in use by another process"), e.getMessage());
            assertNull(first.readinessProblem());
        }
        LogUsageToLogAnalytics.create(context, access).close();
    }

    @Test
    void aTenantIdEntraIdCannotTakeIsReportedWithoutTheSecret() throws Exception {
        PluginContext context = valid("""
                credential_tenant_id: 'not a tenant?'
                credential_client_id: client-0000
                credential_client_secret: %s""".formatted(SECRET), "");

        ConfigException e = assertThrows(ConfigException.class,
                () -> LogUsageToLogAnalytics.create(context, LogUsageToLogAnalytics.AzureAccess.DEFAULT));

        assertEquals(1, e.problems().size());
        assertTrue(e.getMessage().startsWith("plugins[1]: cannot set up the service principal client-0000 of tenant"
                + " not a tenant? (client secret): "), e.getMessage());
        assertFalse(e.getMessage().contains(SECRET), e.getMessage());
    }

    @Test
    void theFactoryRegistersTheOriginalsName() {
        assertEquals("LogUsageToLogAnalytics", LogUsageToLogAnalytics.factory().name());
    }
}
