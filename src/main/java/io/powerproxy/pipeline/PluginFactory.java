package io.powerproxy.pipeline;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import java.util.List;

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

    /**
     * The plugin for a reloaded config (README "Changing the config while it runs"), called only when the config
     * still has an entry of this plugin with the same settings as the {@code running} one. Returning {@code running}
     * keeps it, with all its state, for the new config; returning a new plugin replaces it, and {@code running} is
     * closed once the requests that began before the reload have ended.
     *
     * <p>The default keeps the running plugin when the clients are configured as before too (positions aside),
     * since plugins read their client settings when they are created, and else creates a new one. A plugin whose
     * state must outlive a change of the clients (budgets) makes the new one take it over; a plugin that reads other
     * parts of the config must check them here.
     *
     * @throws ConfigException as {@link #create} does
     */
    default Plugin reload(Plugin running, PluginContext runningContext, PluginContext context) throws ConfigException {
        return sameClients(runningContext, context) ? running : create(context);
    }

    /** Whether both configs have the same clients with the same settings, in the same order; positions aside. */
    static boolean sameClients(PluginContext a, PluginContext b) {
        return withoutPaths(a.clients()).equals(withoutPaths(b.clients()));
    }

    private static List<ClientConfig> withoutPaths(List<ClientConfig> clients) {
        return clients.stream().map(c -> new ClientConfig(c.name(), c.description(), c.key(),
                c.usesEntraIdAuth(), c.deploymentsAllowed(), c.settings(), "")).toList();
    }

    /** Creates a plugin from its context; the shape of {@link #create}, for {@link #of}. */
    @FunctionalInterface
    interface Creator {
        Plugin create(PluginContext context) throws ConfigException;
    }

    /**
     * A factory like {@link #of} for plugins that read nothing of the config but their own settings (usage sinks): a
     * reload whose entry has the same settings keeps the running plugin whatever else changed.
     */
    static PluginFactory ofOwnSettingsOnly(String name, Creator creator) {
        PluginFactory factory = of(name, creator);
        return new PluginFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Plugin create(PluginContext context) throws ConfigException {
                return factory.create(context);
            }

            @Override
            public Plugin reload(Plugin running, PluginContext runningContext, PluginContext context) {
                return running;
            }
        };
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
