package io.powerproxy.pipeline;

import io.powerproxy.config.ConfigException;

/**
 * Creates a plugin by name. Built-in plugins and third-party jars (through {@link java.util.ServiceLoader},
 * listed in {@code META-INF/services/io.powerproxy.pipeline.PluginFactory}) register one factory each.
 */
public interface PluginFactory {

    /** The name users write in {@code plugins[].name}, e.g. {@code LimitUsage}. */
    String name();

    /**
     * Checks the plugin's settings and the client settings it needs, then creates the plugin once for the
     * process.
     *
     * @throws ConfigException listing every problem, each starting with its config path
     *     (e.g. {@code clients[2].max_tokens_per_minute_in_k is required by LimitUsage})
     */
    Plugin create(PluginContext context) throws ConfigException;
}
