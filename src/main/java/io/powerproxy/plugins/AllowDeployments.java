package io.powerproxy.plugins;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.ProxyException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Lets each client use only the deployments in its {@code deployments_allowed} (README "AllowDeployments"); other
 * requests get 401, as in the Python original. A deployment is named in the path or, where the path names none, in
 * the JSON body's {@code model} (Responses, Assistants, the v1 API...).
 *
 * <p>Requests that name no deployment either way (files, batches, vector stores, listing assistants or threads...)
 * read or change objects shared by every team on the resource, so they are refused unless the client has
 * {@code allow_deployment_independent_apis: true}.
 */
public final class AllowDeployments implements Plugin {

    static final String NAME = "AllowDeployments";
    private static final String INDEPENDENT = "allow_deployment_independent_apis";

    /** Per client (by identity): the allowed deployments and whether deployment-independent APIs are allowed. */
    private record Allowed(Set<String> deployments, boolean independentApis) {
    }

    private final Map<ClientConfig, Allowed> allowed;

    private AllowDeployments(Map<ClientConfig, Allowed> allowed) {
        this.allowed = allowed;
    }

    /** The factory that registers this plugin under its name. */
    public static PluginFactory factory() {
        return PluginFactory.of(NAME, AllowDeployments::create);
    }

    static AllowDeployments create(PluginContext context) throws ConfigException {
        List<String> problems = new ArrayList<>();
        Settings.rejectUnknown(context.settings(), Set.of(), problems);
        Map<ClientConfig, Allowed> allowed = new IdentityHashMap<>();
        for (ClientConfig client : context.clients()) {
            if (client.deploymentsAllowed() == null) {
                problems.add(client.path() + ".deployments_allowed is required by " + NAME
                        + " (client '" + client.name() + "'): list the deployments it may use");
            }
            Object independent = client.settings().get(INDEPENDENT);
            if (independent != null && !(independent instanceof Boolean)) {
                problems.add(client.path() + "." + INDEPENDENT + " must be true or false");
            }
            allowed.put(client, new Allowed(
                    client.deploymentsAllowed() == null ? Set.of() : new HashSet<>(client.deploymentsAllowed()),
                    Boolean.TRUE.equals(independent)));
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new AllowDeployments(allowed);
    }

    @Override
    public void onClientIdentified(Exchange exchange) {
        ClientConfig client = exchange.client();
        Allowed rules = allowed.get(client);
        String deployment = exchange.deployment();
        if (deployment == null) {
            if (rules == null || !rules.independentApis()) {
                throw ProxyException.of(401, "Unauthorized", "Client '" + client.name() + "' may not use APIs that"
                        + " name no deployment in their path or their body's model (files, batches, vector stores, listing"
                        + " assistants...): they share objects with every team. Ask your platform team for '"
                        + INDEPENDENT + ": true'.");
            }
            return;
        }
        if (rules == null || !rules.deployments().contains(deployment)) {
            throw ProxyException.of(401, "Unauthorized", "Client '" + client.name() + "' is not allowed to use"
                    + " deployment '" + deployment + "'.");
        }
    }
}
