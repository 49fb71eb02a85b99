package io.powerproxy.pipeline;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.PluginConfig;
import io.powerproxy.config.ProxyConfig;
import java.util.List;

/**
 * What a {@link PluginFactory} gets to build its plugin: its own settings and the whole configuration.
 *
 * @param settings this plugin's entry of {@code plugins[]}
 * @param config the whole configuration, e.g. to read and check the clients' settings
 */
public record PluginContext(PluginConfig settings, ProxyConfig config) {

    /** The configured clients, in config order. */
    public List<ClientConfig> clients() {
        return config.clients();
    }
}
