package io.powerproxy.plugins;

import static io.powerproxy.plugins.PluginTestSupport.context;
import static io.powerproxy.plugins.PluginTestSupport.exchange;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.ProxyException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** AllowDeployments lets each client use only its deployments. */
class AllowDeploymentsTest {

    private static final String CLIENTS = """
            - name: Team 1
              key: team-1-key-0123456789
              deployments_allowed: gpt-35-turbo, gpt-4o
            - name: Team 2
              key: team-2-key-0123456789
              deployments_allowed: [gpt-4o-mini]
              allow_deployment_independent_apis: true
            """;

    @Test
    void anAllowedDeploymentPassesInBothForms() throws Exception {
        PluginContext context = context(CLIENTS, "- name: AllowDeployments");
        AllowDeployments plugin = AllowDeployments.create(context);

        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 0, "gpt-4o")));
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 0, "gpt-35-turbo")));
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o-mini")));
    }

    @Test
    void aDeploymentNotAllowedIs401NamingTheDeploymentAndTheClient() throws Exception {
        PluginContext context = context(CLIENTS, "- name: AllowDeployments");
        AllowDeployments plugin = AllowDeployments.create(context);

        ProxyException refused = assertThrows(ProxyException.class,
                () -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));

        assertEquals(401, refused.status());
        assertTrue(refused.getMessage().contains("'Team 2'"), refused.getMessage());
        assertTrue(refused.getMessage().contains("'gpt-4o'"), refused.getMessage());
    }

    @Test
    void deploymentIndependentApisNeedTheClientsExplicitPermission() throws Exception {
        PluginContext context = context(CLIENTS, "- name: AllowDeployments");
        AllowDeployments plugin = AllowDeployments.create(context);

        ProxyException refused = assertThrows(ProxyException.class,
                () -> plugin.onClientIdentified(exchange(context, 0, null)));

        assertEquals(401, refused.status());
        assertTrue(refused.getMessage().contains("allow_deployment_independent_apis"));
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 1, null)));
    }

    /**
     * As the original (app/plugins/AllowDeployments/AllowDeployments.py, lines 51-58): a {@code deployments_allowed}
     * that is neither text nor a list left the list empty, so the client was refused every deployment.
     */
    @Test
    void aClientWhoseDeploymentsAllowedIsLeftEmptyStartsAndIsRefusedEveryDeployment() throws Exception {
        PluginContext context = context("""
                - name: Team 1
                  key: team-1-key-0123456789
                  deployments_allowed:
                """, "- name: AllowDeployments");
        AllowDeployments plugin = AllowDeployments.create(context);

        ProxyException refused = assertThrows(ProxyException.class,
                () -> plugin.onClientIdentified(exchange(context, 0, "gpt-4o")));

        assertEquals(401, refused.status());
        assertTrue(refused.getMessage().contains("'gpt-4o'"), refused.getMessage());
    }

    @Test
    void everyClientNeedsDeploymentsAllowedAndTheErrorNamesIt() throws Exception {
        PluginContext context = context("""
                - name: Team 1
                  key: team-1-key-0123456789
                - name: Team 2
                  key: team-2-key-0123456789
                  deployments_allowed: gpt-4o
                  allow_deployment_independent_apis: sometimes
                """, "- name: AllowDeployments\n  strict: true");

        ConfigException problems = assertThrows(ConfigException.class, () -> AllowDeployments.create(context));

        assertEquals(List.of(
                "plugins[0].strict is not a setting of AllowDeployments (it has none)",
                "clients[0].deployments_allowed is required by AllowDeployments (client 'Team 1'): list the deployments it may use",
                "clients[1].allow_deployment_independent_apis must be true or false"), problems.problems());
    }
}
