package io.powerproxy.config;

import java.util.List;

/**
 * The whole configuration, parsed once from YAML and validated by {@link ConfigLoader}.
 *
 * @param clients the teams that may call the proxy, in config order
 * @param plugins the plugins to run, in config order
 * @param aoai the Azure OpenAI side: endpoints, header filter, mock response
 * @param userAssignedManagedIdentityClientId client id of the managed identity used for upstream tokens, or null
 *     for DefaultAzureCredential
 */
public record ProxyConfig(
        List<ClientConfig> clients,
        List<PluginConfig> plugins,
        AoaiConfig aoai,
        String userAssignedManagedIdentityClientId) {

    public ProxyConfig {
        clients = List.copyOf(clients);
        plugins = List.copyOf(plugins);
    }
}
