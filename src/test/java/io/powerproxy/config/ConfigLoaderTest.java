package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.ONE_CLIENT;
import static io.powerproxy.config.ConfigTestSupport.ONE_ENDPOINT;
import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class ConfigLoaderTest {

    @Test
    void aMinimalConfigLoads() {
        ProxyConfig config = load(ONE_CLIENT + ONE_ENDPOINT);

        assertEquals(1, config.clients().size());
        assertEquals(List.of(), config.plugins());
        assertEquals(1, config.aoai().endpoints().size());
        assertNull(config.aoai().forwardHeaderOnlyIfNameMatches());
        assertNull(config.aoai().mockResponse());
        assertNull(config.userAssignedManagedIdentityClientId());
    }

    @Test
    void aYamlSyntaxErrorIsOneProblemWithLineAndColumnThatDoesNotQuoteTheLine() {
        List<String> problems = problems("""
                clients:
                  - name: Team 1
                    key: very-secret-client-key: 1
                """);

        assertEquals(List.of("the configuration is not valid YAML at line 3, column 32: mapping values are not allowed"
                + " here"), problems);
    }

    @Test
    void aKeyGivenTwiceIsRejectedWithBothLines() {
        assertEquals(List.of("clients[0].key is given twice (lines 3 and 4)"), problems("""
                clients:
                  - name: Team 1
                    key: first-key-0123456789
                    key: second-key-0123456789
                """ + ONE_ENDPOINT));
    }

    @Test
    void anEmptyConfigurationIsRejected() {
        assertEquals(List.of("the configuration is empty: it needs at least clients and aoai"), problems(""));
        assertEquals(List.of("the configuration is empty: it needs at least clients and aoai"), problems("# nothing\n"));
        assertEquals(List.of("the configuration is empty: it needs at least clients and aoai"), problems(null));
    }

    @Test
    void theTopLevelMustBeAMapping() {
        assertEquals(List.of("the configuration must be a YAML mapping (clients:, plugins:, aoai: ...), got a list"),
                problems("- clients\n- aoai\n"));
        assertEquals(List.of("the configuration must be a YAML mapping (clients:, plugins:, aoai: ...), got a string"),
                problems("just text\n"));
    }

    @Test
    void everyProblemIsReportedNotOnlyTheFirst() {
        List<String> problems = problems("""
                clients:
                  - name: Team 1
                plugins:
                  - settings: none
                aoai:
                  endpoints:
                    - name: East
                      url: foo
                      weight: -1
                """);

        assertEquals(List.of(
                "clients[0].key is required (or uses_entra_id_auth: true for the one client that stands for callers"
                        + " with an Entra ID token)",
                "plugins[0].name is required",
                "aoai.endpoints[0].url must be an absolute http(s) URL, got 'foo'",
                "aoai.endpoints[0].weight must be a positive number, got '-1'"), problems);
    }

    @Test
    void pluginsAreOptionalAndKeepTheirSettingsWithoutTheName() {
        ProxyConfig config = load(ONE_CLIENT + """
                plugins:
                  - name: AllowDeployments
                  - name: LimitUsage
                    redis:
                      redis_host: redis.example.net
                      redis_port: 6380
                  - name: NoSuchPluginIsCheckedHere
                """ + ONE_ENDPOINT);

        assertEquals(List.of("AllowDeployments", "LimitUsage", "NoSuchPluginIsCheckedHere"),
                config.plugins().stream().map(PluginConfig::name).toList());
        assertEquals(Map.of(), config.plugins().get(0).settings());
        assertEquals(Map.of("redis", Map.of("redis_host", "redis.example.net", "redis_port", 6380)),
                config.plugins().get(1).settings());
        assertEquals("plugins[1]", config.plugins().get(1).path());
    }

    @Test
    void pluginsMustBeAListOfNamedMappings() {
        assertEquals(List.of("plugins must be a list (lines starting with '- '), got a string"),
                problems(ONE_CLIENT + "plugins: LimitUsage\n" + ONE_ENDPOINT));
        assertEquals(List.of("plugins[0] must be a mapping (key: value lines), got a string"),
                problems(ONE_CLIENT + "plugins:\n  - LimitUsage\n" + ONE_ENDPOINT));
        assertEquals(List.of("plugins[0].name must be a string, got a mapping"),
                problems(ONE_CLIENT + "plugins:\n  - name: {a: b}\n" + ONE_ENDPOINT));
    }

    @Test
    void theManagedIdentityClientIdIsKeptAndBlankMeansNone() {
        assertEquals("0f3c5e2a-identity", load(ONE_CLIENT + ONE_ENDPOINT
                + "user_assigned_managed_identity_client_id: 0f3c5e2a-identity\n").userAssignedManagedIdentityClientId());
        assertNull(load(ONE_CLIENT + ONE_ENDPOINT + "user_assigned_managed_identity_client_id: ''\n")
                .userAssignedManagedIdentityClientId());
    }

    @Test
    void deploymentOnlyKeysAreAcceptedAndIgnoredWithoutWarning() {
        List<String> warnings = warningsWhileLoading(ONE_CLIENT + ONE_ENDPOINT + """
                azure_subscription_id: 0000-1111
                region: swedencentral
                resource_group: PowerProxy-AOAI
                unique_prefix: abcde
                """);

        assertEquals(List.of(), warnings);
    }

    @Test
    void unknownKeysBelowTheTopLevelAreWarnedAboutWithTheirPathButAreNotFatal() {
        List<String> warnings = warningsWhileLoading("""
                clients:
                  - name: Team 1
                    key: key-of-team-1-0123456789
                    a_key_for_some_plugin: 1
                plugins:
                  - name: LimitUsage
                    own_setting: 2
                aoai:
                  endpoints:
                    - name: East
                      url: https://east.openai.azure.com
                      colour: blue
                      connections:
                        limits: {max_conections: 3}
                        timeout: {}
                      virtual_deployments:
                        - name: gpt-4o
                          standins: [{name: gpt-4o, weigth: 2}]
                          model: x
                  mock_respons: {}
                  mock_response: {json: {}, wait_ms: 3}
                """);

        assertEquals(List.of(
                "Config key aoai.mock_respons is unknown and ignored",
                "Config key aoai.mock_response.wait_ms is unknown and ignored",
                "Config key aoai.endpoints[0].colour is unknown and ignored",
                "Config key aoai.endpoints[0].connections.timeout is unknown and ignored",
                "Config key aoai.endpoints[0].connections.limits.max_conections is unknown and ignored",
                "Config key aoai.endpoints[0].virtual_deployments[0].model is unknown and ignored",
                "Config key aoai.endpoints[0].virtual_deployments[0].standins[0].weigth is unknown and ignored"), warnings);
    }

    @Test
    void placeholdersAnywhereAreReportedWithTheirPath() {
        List<String> problems = problems(ONE_CLIENT + """
                plugins:
                  - name: SomePlugin
                    nested:
                      list: [ok, "<will be set by deployment script>"]
                """ + ONE_ENDPOINT + """
                region: ___
                unique_prefix: " _____ "
                """);

        assertEquals(List.of(
                "plugins[0].nested.list[1] is still a placeholder ('<will be set by deployment script>'): fill it in",
                "region is still a placeholder ('___'): fill it in",
                "unique_prefix is still a placeholder (' _____ '): fill it in"), problems);
    }

    @Test
    void aValueThatOnlyContainsThreeUnderscoresIsAValueNotAPlaceholder() {
        ProxyConfig config = load("""
                clients:
                  - name: Team ___ 1
                    description: Fill in the ___ fields of the form, or see <will be set by deployment script>.
                    key: key___of___team-1-0123
                plugins:
                  - name: SomePlugin
                    prefix: pp___x
                aoai:
                  endpoints:
                    - name: East
                      url: https://east.openai.azure.com/___/
                unique_prefix: pp___x
                """);

        ClientConfig client = config.clients().getFirst();
        assertEquals("Team ___ 1", client.name());
        assertEquals("Fill in the ___ fields of the form, or see <will be set by deployment script>.",
                client.description());
        assertEquals("key___of___team-1-0123", client.key());
        assertEquals("pp___x", config.plugins().getFirst().settings().get("prefix"));
        assertEquals("https://east.openai.azure.com/___", config.aoai().endpoints().getFirst().url().toString());
    }

    @Test
    void anUnknownTopLevelKeyIsAnErrorWithADidYouMeanHint() {
        assertEquals(List.of("plugin is not a top-level key of the configuration: did you mean 'plugins'?"),
                problems(ONE_CLIENT + ONE_ENDPOINT + "plugin:\n  - name: LogUsageToConsole\n"));
        assertEquals(List.of("Aoai is not a top-level key of the configuration: did you mean 'aoai'?",
                "aoai is required: it lists the Azure OpenAI endpoints"),
                problems(ONE_CLIENT + ONE_ENDPOINT.replace("aoai:", "Aoai:")));
        assertEquals(List.of("user_assigned_identity_client_id is not a top-level key of the configuration: did you"
                + " mean 'user_assigned_managed_identity_client_id'?"),
                problems(ONE_CLIENT + ONE_ENDPOINT + "user_assigned_identity_client_id: abc\n"));
    }

    @Test
    void anAoaiKeyAtTheTopLevelIsAnErrorThatPointsUnderAoai() {
        assertEquals(List.of("mock_response is not a top-level key of the configuration: did you mean"
                + " 'aoai.mock_response'?"), problems(ONE_CLIENT + ONE_ENDPOINT + "mock_response: {json: {}}\n"));
    }

    @Test
    void anUnknownTopLevelKeyLikeNoneKnownIsAnErrorListingTheTopLevelKeys() {
        assertEquals(List.of("extra is not a top-level key of the configuration: the top level holds clients, plugins,"
                + " aoai, user_assigned_managed_identity_client_id, azure_subscription_id, region, resource_group,"
                + " unique_prefix"), problems(ONE_CLIENT + ONE_ENDPOINT + "extra: 1\n"));
    }

    /** As the original's app/config.schema.json (lines 54-71), which refused both spellings at the top level. */
    @Test
    void fixedClientIsAnErrorWithTheMigrationInEitherSpelling() {
        String migration = " is not supported anymore: remove it and set 'uses_entra_id_auth: true' on the one client"
                + " that stands for every caller with an Entra ID token (this replaced fixed_client in the Python"
                + " original too)";

        assertEquals(List.of("fixed_client" + migration), problems(ONE_CLIENT + ONE_ENDPOINT + "fixed_client: Team 1\n"));
        assertEquals(List.of("FIXED_CLIENT" + migration), problems(ONE_CLIENT + ONE_ENDPOINT + "FIXED_CLIENT: Team 1\n"));
    }

    @Test
    void aPlaceholderIsOnlyReportedAsSuchEvenWhereAnotherTypeIsExpected() {
        assertEquals(List.of("aoai.endpoints[0].weight is still a placeholder ('___'): fill it in",
                "aoai.endpoints[0].connections is still a placeholder ('___'): fill it in"),
                problems(ONE_CLIENT + ONE_ENDPOINT + "      weight: ___\n      connections: ___\n"));
    }

    @Test
    void placeholdersUnderSecretNamesAreReportedWithoutTheirValue() {
        List<String> problems = problems(ONE_CLIENT + """
                plugins:
                  - name: LogUsageToLogAnalytics
                    credential_client_secret: ___
                    redis: {redis_password: <will be set by deployment script>}
                    api_keys: [____]
                    access_token: ___
                """ + ONE_ENDPOINT);

        assertEquals(List.of(
                "plugins[0].credential_client_secret is still a placeholder: fill it in",
                "plugins[0].redis.redis_password is still a placeholder: fill it in",
                "plugins[0].api_keys[0] is still a placeholder: fill it in",
                "plugins[0].access_token is still a placeholder: fill it in"), problems);
    }

    @Test
    void noProblemMessageContainsASecret() {
        List<String> problems = problems("""
                clients:
                  - name: Team 1
                    key: client-secret-AAAA-0123456789
                    uses_entra_id_auth: true
                  - name: Team 2
                    key: client-secret-BBBB-0123456789
                  - name: Team 3
                    key: client-secret-BBBB-0123456789
                  - name: Team 4
                    key: {value: client-secret-CCCC-0123456789}
                plugins:
                  - name: LimitUsage
                    redis: {redis_password: ___client-secret-DDDD}
                aoai:
                  endpoints:
                    - name: East
                      url: https://user:client-secret-EEEE@east.example.com
                      key: [client-secret-FFFF]
                    - name: West
                      url: "https://west.example.com/?sig=client-secret-GGGG"
                      non_streaming_fraction: 0.5
                """);

        // 7: the Redis password starts with ___ but is not only ___, so it is a value, not a placeholder.
        assertEquals(7, problems.size(), String.join("\n", problems));
        problems.forEach(problem -> assertFalse(problem.contains("client-secret"), problem));
    }

    @Test
    void mergeKeysShareSettingsAndExplicitKeysWin() {
        ProxyConfig config = load(ONE_CLIENT + """
                x-defaults: &defaults
                  limits: {max_connections: 7}
                  timeouts: {read: 30}
                aoai:
                  endpoints:
                    - name: East
                      url: https://east.openai.azure.com
                      connections:
                        <<: *defaults
                        timeouts: {read: 60}
                """);

        EndpointConfig endpoint = config.aoai().endpoints().getFirst();
        assertEquals(7, endpoint.limits().maxConnections());
        assertEquals(Duration.ofSeconds(60), endpoint.timeouts().read());
    }

    @Test
    void aSelfReferencingAliasIsAProblemNotAHang() {
        List<String> problems = problems(ONE_CLIENT + ONE_ENDPOINT + "x-loop: &loop [*loop]\n");

        assertEquals(List.of("x-loop[0] contains itself through a YAML alias"), problems);
    }

    @Test
    void datesInPluginSettingsStayAsWritten() {
        ProxyConfig config = load(ONE_CLIENT + "plugins:\n  - name: P\n    since: 2024-05-01\n" + ONE_ENDPOINT);

        assertEquals("2024-05-01", config.plugins().getFirst().settings().get("since"));
    }

    @Test
    void aConfigExceptionJoinsItsProblemsOnLines() {
        ConfigException e = new ConfigException(List.of("a is wrong", "b is wrong"));

        assertEquals("a is wrong\nb is wrong", e.getMessage());
        assertEquals(List.of("a is wrong", "b is wrong"), e.problems());
        assertEquals(List.of("c is wrong"), new ConfigException("c is wrong").problems());
    }

    @Test
    void secretNamesAreRecognised() {
        for (String name : List.of("key", "api_key", "redis_password", "credential_client_secret", "access_token",
                "connection_string")) {
            assertTrue(ConfigLoader.isSecretName(name), name);
        }
        for (String name : List.of("name", "max_tokens_per_minute_in_k", "keepalive_expiry", "redis_host",
                "credential_client_id")) {
            assertFalse(ConfigLoader.isSecretName(name), name);
        }
    }

    private static List<String> warningsWhileLoading(String yaml) {
        Logger logger = (Logger) LoggerFactory.getLogger(ConfigLoader.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try {
            load(yaml);
            return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        } finally {
            logger.detachAppender(appender);
        }
    }
}
