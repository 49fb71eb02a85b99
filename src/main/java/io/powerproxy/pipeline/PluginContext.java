package io.powerproxy.pipeline;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.PluginConfig;
import io.powerproxy.config.ProxyConfig;
import java.util.List;
import java.util.Objects;

/**
 * What a {@link PluginFactory} gets to build its plugin: its own settings, the whole configuration and the metrics.
 *
 * @param settings this plugin's entry of {@code plugins[]}
 * @param config the whole configuration, e.g. to read and check the clients' settings
 * @param metrics where the plugin reports figures for {@code /powerproxy/metrics}
 */
public record PluginContext(PluginConfig settings, ProxyConfig config, PluginMetrics metrics) {

    public PluginContext {
        Objects.requireNonNull(metrics, "metrics");
    }

    /** A context whose metrics go nowhere. */
    public PluginContext(PluginConfig settings, ProxyConfig config) {
        this(settings, config, PluginMetrics.NONE);
    }

    /** The configured clients, in config order. */
    public List<ClientConfig> clients() {
        return config.clients();
    }
}
