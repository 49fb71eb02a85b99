package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static io.powerproxy.config.ConfigTestSupport.withClients;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ClientsConfigTest {

    @Test
    void aClientHasItsNameDescriptionKeyAndPath() {
        ClientConfig client = load(withClients("""
                clients:
                  - name: Team 1
                    description: The first team.
                    key: key-of-team-1-0123456789
                """)).clients().getFirst();

        assertEquals("Team 1", client.name());
        assertEquals("The first team.", client.description());
        assertEquals("key-of-team-1-0123456789", client.key());
        assertFalse(client.usesEntraIdAuth());
        assertNull(client.deploymentsAllowed());
        assertEquals("clients[0]", client.path());
    }

    @Test
    void clientsAreRequired() {
        assertEquals(List.of("clients is required"), problems(ConfigTestSupport.ONE_ENDPOINT));
    }

    @Test
    void anEmptyClientListIsRejected() {
        assertEquals(List.of("clients must list at least one client"), problems(withClients("clients: []\n")));
    }

    @Test
    void clientsMustBeAListOfMappings() {
        assertEquals(List.of("clients must be a list (lines starting with '- '), got a mapping"),
                problems(withClients("clients:\n  name: Team 1\n")));
        assertEquals(List.of("clients[0] must be a mapping (key: value lines), got a string"),
                problems(withClients("clients:\n  - some-key-0123456789\n")));
    }

    @Test
    void aClientNeedsANameThatIsNotBlank() {
        assertEquals(List.of("clients[0].name is required"), problems(withClients("""
                clients:
                  - key: key-of-team-1-0123456789
                """)));
        assertEquals(List.of("clients[0].name must not be blank"), problems(withClients("""
                clients:
                  - name: " "
                    key: key-of-team-1-0123456789
                """)));
    }

    @Test
    void clientNamesMustBeUnique() {
        assertEquals(List.of("clients[2].name 'Team 1' is the same as clients[0].name: client names must be unique"),
                problems(withClients("""
                        clients:
                          - name: Team 1
                            key: key-of-team-1-0123456789
                          - name: Team 2
                            key: key-of-team-2-0123456789
                          - name: Team 1
                            key: key-of-team-3-0123456789
                        """)));
    }

    @Test
    void aClientNeedsAKeyUnlessItUsesEntraIdAuth() {
        assertEquals(List.of("clients[0].key is required (or uses_entra_id_auth: true for the one client that stands"
                + " for callers with an Entra ID token)"), problems(withClients("""
                        clients:
                          - name: Team 1
                            uses_entra_id_auth: false
                        """)));
    }

    @Test
    void aClientSetsEitherAKeyOrEntraIdAuthNotBoth() {
        List<String> problems = problems(withClients("""
                clients:
                  - name: Team 1
                    key: key-of-team-1-0123456789
                    uses_entra_id_auth: true
                """));

        assertEquals(List.of("clients[0] has both key and uses_entra_id_auth: true: set either key or uses_entra_id_auth"),
                problems);
    }

    @Test
    void theEntraIdClientHasNoKey() {
        ClientConfig client = load(withClients("""
                clients:
                  - name: Entra
                    uses_entra_id_auth: true
                """)).clients().getFirst();

        assertTrue(client.usesEntraIdAuth());
        assertNull(client.key());
    }

    @Test
    void atMostOneClientUsesEntraIdAuth() {
        assertEquals(List.of("clients[2].uses_entra_id_auth is true, but so is clients[0].uses_entra_id_auth:"
                + " at most one client may use Entra ID auth"), problems(withClients("""
                        clients:
                          - name: Entra 1
                            uses_entra_id_auth: true
                          - name: Team
                            key: key-of-team-1-0123456789
                          - name: Entra 2
                            uses_entra_id_auth: yes
                        """)));
    }

    @Test
    void usesEntraIdAuthMustBeABoolean() {
        assertEquals(List.of("clients[0].uses_entra_id_auth must be true or false, got 'sometimes'"),
                problems(withClients("""
                        clients:
                          - name: Team 1
                            key: key-of-team-1-0123456789
                            uses_entra_id_auth: sometimes
                        """)));
    }

    @Test
    void clientKeysMustBeUniqueAndTheMessageDoesNotShowTheKey() {
        List<String> problems = problems(withClients("""
                clients:
                  - name: Team 1
                    key: shared-key-0123456789
                  - name: Team 2
                    key: key-of-team-2-0123456789
                  - name: Team 3
                    key: shared-key-0123456789
                """));

        assertEquals(List.of("clients[2].key is the same as clients[0].key: every client needs a key of its own"),
                problems);
    }

    @Test
    void aBlankClientKeyIsRejected() {
        assertEquals(List.of("clients[0].key must not be blank"), problems(withClients("""
                clients:
                  - name: Team 1
                    key: "  "
                """)));
    }

    @Test
    void aClientKeyMustNotBeAListAndIsNotShown() {
        assertEquals(List.of("clients[0].key must be a string, got a list"), problems(withClients("""
                clients:
                  - name: Team 1
                    key: [secret-part-1, secret-part-2]
                """)));
    }

    @Test
    void numbersGivenAsKeysAreTakenAsWritten() {
        List<ClientConfig> clients = load(withClients("""
                clients:
                  - name: Octal looking
                    key: 0123
                  - name: Long
                    key: 1234567890123456789
                  - name: Underscores
                    key: 1_000_007
                  - name: Huge
                    key: 123456789012345678901234567890
                  - name: Float
                    key: 1.50
                """)).clients();

        assertEquals(List.of("0123", "1234567890123456789", "1_000_007", "123456789012345678901234567890", "1.50"),
                clients.stream().map(ClientConfig::key).toList());
    }

    @Test
    void deploymentsAllowedAsACommaSeparatedStringIsTrimmedWithoutEmptyParts() {
        assertEquals(List.of("gpt-35-turbo", "gpt-4o"), deploymentsAllowed("deployments_allowed: ' gpt-35-turbo, , gpt-4o ,'"));
    }

    @Test
    void deploymentsAllowedAsABlockOrFlowListIsKept() {
        assertEquals(List.of("gpt-35-turbo", "gpt-4o"),
                deploymentsAllowed("deployments_allowed:\n      - gpt-35-turbo\n      - gpt-4o"));
        assertEquals(List.of("gpt-35-turbo", "gpt-4o"), deploymentsAllowed("deployments_allowed: [gpt-35-turbo, gpt-4o]"));
    }

    @Test
    void deploymentsAllowedAbsentIsNullAndEmptyIsAnEmptyList() {
        assertNull(deploymentsAllowed("description: no deployments_allowed"));
        assertEquals(List.of(), deploymentsAllowed("deployments_allowed: ''"));
        assertEquals(List.of(), deploymentsAllowed("deployments_allowed: []"));
    }

    /**
     * The original's AllowDeployments (app/plugins/AllowDeployments/AllowDeployments.py, lines 51-58) turned a value
     * that is neither text nor a list into an empty list, which allows no deployment; its client schema (lines 31-35)
     * accepts null. So {@code deployments_allowed:} left empty loads, and allows nothing.
     */
    @Test
    void deploymentsAllowedLeftEmptyOrNullLoadsAsNoDeploymentAsInTheOriginal() {
        assertEquals(List.of(), deploymentsAllowed("deployments_allowed:"));
        assertEquals(List.of(), deploymentsAllowed("deployments_allowed: null"));
        assertEquals(List.of(), deploymentsAllowed("deployments_allowed: ~"));
    }

    @Test
    void deploymentsAllowedMustNotBeAMappingOrHoldEmptyItems() {
        assertEquals(List.of("clients[0].deployments_allowed must be a comma-separated string or a list of deployment"
                + " names, got a mapping"), problems(client("deployments_allowed: {gpt-4o: true}")));
        assertEquals(List.of("clients[0].deployments_allowed[1] is empty: remove it or name a deployment"),
                problems(client("deployments_allowed: [gpt-4o, ~]")));
    }

    @Test
    void theWholeClientMappingIsKeptAsSettingsForPlugins() {
        List<ClientConfig> clients = load(withClients("""
                clients:
                  - name: Team 1
                    key: key-of-team-1-0123456789
                    max_tokens_per_minute_in_k:
                      gpt-35-turbo: 20
                      gpt-4o: 5
                    allow_deployment_independent_apis: true
                  - name: Team 2
                    key: key-of-team-2-0123456789
                    max_tokens_per_minute_in_k: 30
                """)).clients();

        assertEquals(Map.of("gpt-35-turbo", 20, "gpt-4o", 5), clients.get(0).settings().get("max_tokens_per_minute_in_k"));
        assertEquals(true, clients.get(0).settings().get("allow_deployment_independent_apis"));
        assertEquals("Team 1", clients.get(0).settings().get("name"));
        assertEquals(30, clients.get(1).settings().get("max_tokens_per_minute_in_k"));
    }

    private static List<String> deploymentsAllowed(String line) {
        return load(client(line)).clients().getFirst().deploymentsAllowed();
    }

    private static String client(String line) {
        return withClients("""
                clients:
                  - name: Team 1
                    key: key-of-team-1-0123456789
                    %s
                """.formatted(line));
    }
}
