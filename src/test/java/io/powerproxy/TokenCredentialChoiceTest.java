package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.azure.identity.DefaultAzureCredential;
import com.azure.identity.ManagedIdentityCredential;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.testing.Configs;
import org.junit.jupiter.api.Test;

/**
 * Endpoints without a key get their tokens from the configured user-assigned managed identity, else from
 * DefaultAzureCredential; the credentials are only built here, never asked for a token.
 */
class TokenCredentialChoiceTest {

    private static final String CLIENT_ID = "11111111-2222-3333-4444-555555555555";
    private static final String KEYLESS_ENDPOINT = """
            endpoints:
              - name: Sweden
                url: https://sweden.invalid
            """;

    private static ProxyConfig parse(String yaml) throws Exception {
        return ConfigLoader.parse(yaml);
    }

    @Test
    void aConfiguredClientIdGivesThatUserAssignedManagedIdentity() throws Exception {
        ProxyConfig config = parse("user_assigned_managed_identity_client_id: " + CLIENT_ID + "\n"
                + Configs.withAoai(KEYLESS_ENDPOINT));

        ManagedIdentityCredential credential =
                assertInstanceOf(ManagedIdentityCredential.class, PowerProxy.credentialFor(config));
        assertEquals(CLIENT_ID, credential.getClientId());
    }

    @Test
    void withoutAClientIdAnEndpointWithoutAKeyGetsDefaultAzureCredential() throws Exception {
        ProxyConfig config = parse(Configs.withAoai(KEYLESS_ENDPOINT));

        assertInstanceOf(DefaultAzureCredential.class, PowerProxy.credentialFor(config));
    }

    @Test
    void aBlankClientIdCountsAsNotSet() throws Exception {
        ProxyConfig config = parse("user_assigned_managed_identity_client_id: \" \"\n" + Configs.withAoai(KEYLESS_ENDPOINT));

        assertInstanceOf(DefaultAzureCredential.class, PowerProxy.credentialFor(config));
    }

    @Test
    void whenEveryEndpointHasAKeyNoCredentialIsBuiltEvenWithAClientId() throws Exception {
        ProxyConfig config = parse("user_assigned_managed_identity_client_id: " + CLIENT_ID + "\n"
                + Configs.oneEndpoint("https://sweden.invalid"));

        assertNull(PowerProxy.credentialFor(config));
    }
}
