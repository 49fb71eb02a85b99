package io.powerproxy.config;

import java.util.List;
import java.util.Map;

/**
 * One client (a team or use case) of the proxy.
 *
 * @param name unique name, used in usage records
 * @param description free text, or null
 * @param key the client's own key, or null when {@code usesEntraIdAuth}
 * @param usesEntraIdAuth whether this client stands for every caller that sends an Entra ID bearer token
 * @param deploymentsAllowed the (virtual) deployments this client may use; null when the key is missing, empty when
 *     it is left empty (as in the original, no deployment then)
 * @param settings every key of the client's YAML mapping, for plugins that define client settings of their own
 * @param path where this client is in the config, e.g. {@code clients[2]}, for error messages
 */
public record ClientConfig(
        String name,
        String description,
        String key,
        boolean usesEntraIdAuth,
        List<String> deploymentsAllowed,
        Map<String, Object> settings,
        String path) {

    public ClientConfig {
        deploymentsAllowed = deploymentsAllowed == null ? null : List.copyOf(deploymentsAllowed);
        settings = ConfigValues.immutableCopy(settings);
    }

    @Override
    public String toString() {
        return "ClientConfig[name=" + name + ", key=" + Secrets.mask(key) + ", usesEntraIdAuth=" + usesEntraIdAuth + "]";
    }
}
