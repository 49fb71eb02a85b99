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

    /** Creates a plugin from its context; the shape of {@link #create}, for {@link #of}. */
    @FunctionalInterface
    interface Creator {
        Plugin create(PluginContext context) throws ConfigException;
    }

    /** A factory of the given name that creates plugins with {@code creator}, e.g. {@code of("X", X::create)}. */
    static PluginFactory of(String name, Creator creator) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a plugin needs a name");
        }
        return new PluginFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Plugin create(PluginContext context) throws ConfigException {
                return creator.create(context);
            }
        };
    }
}
