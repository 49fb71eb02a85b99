package io.powerproxy.pipeline;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.PluginConfig;
import io.powerproxy.config.ProxyConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;

/** Knows every plugin by name, built-in or found through {@link ServiceLoader}, and creates the configured ones. */
public final class PluginRegistry {

    private final Map<String, PluginFactory> factories;

    private PluginRegistry(Map<String, PluginFactory> factories) {
        this.factories = factories;
    }

    /**
     * A registry of the given built-ins plus every {@link PluginFactory} the class loader's service files list.
     * A third-party factory may not take a built-in's name.
     */
    public static PluginRegistry create(List<PluginFactory> builtIns, ClassLoader classLoader) {
        Map<String, PluginFactory> all = new TreeMap<>();
        for (PluginFactory factory : builtIns) {
            all.put(factory.name(), factory);
        }
        for (PluginFactory factory : ServiceLoader.load(PluginFactory.class, classLoader)) {
            PluginFactory previous = all.putIfAbsent(factory.name(), factory);
            if (previous != null && previous.getClass() != factory.getClass()) {
                throw new IllegalStateException("plugin name '" + factory.name() + "' of " + factory.getClass().getName()
                        + " is already taken by " + previous.getClass().getName());
            }
        }
        return new PluginRegistry(all);
    }

    /** The names of every known plugin, sorted. */
    public List<String> names() {
        return List.copyOf(factories.keySet());
    }

    /**
     * Creates the configured plugins in config order.
     *
     * @throws ConfigException with every problem of every plugin: unknown names and invalid settings
     */
    public List<Plugin> createAll(ProxyConfig config) throws ConfigException {
        return createPipeline(config).plugins();
    }

    /**
     * Creates the configured plugins in config order, as the pipeline that names each in its log lines by its
     * {@code plugins[].name}.
     *
     * @throws ConfigException with every problem of every plugin: unknown names and invalid settings
     */
    public Pipeline createPipeline(ProxyConfig config) throws ConfigException {
        return createPipeline(config, PluginMetrics.NONE);
    }

    /** The same, with the metrics the plugins report to, and that count which plugin rejected which request. */
    public Pipeline createPipeline(ProxyConfig config, PluginMetrics metrics) throws ConfigException {
        return build(null, List.of(), config, metrics);
    }

    /**
     * Creates the plugins of a reloaded config in config order: an entry with the same name and settings as one of
     * the running config gets what its factory's {@link PluginFactory#reload} returns (usually the running plugin
     * itself), every other entry a new plugin. On failure every plugin created here is closed again; the running
     * ones are left alone.
     *
     * @param running the config the running pipeline was created from
     * @throws ConfigException with every problem of every plugin
     */
    public Pipeline reloadPipeline(ProxyConfig running, Pipeline runningPipeline, ProxyConfig config)
            throws ConfigException {
        return reloadPipeline(running, runningPipeline, config, PluginMetrics.NONE);
    }

    /** The same, with the metrics the new plugins report to (a gauge a new plugin registers again takes over). */
    public Pipeline reloadPipeline(ProxyConfig running, Pipeline runningPipeline, ProxyConfig config,
            PluginMetrics metrics) throws ConfigException {
        return build(running, runningPipeline.plugins(), config, metrics);
    }

    /**
     * The plugins of {@code config} in config order, each entry the same as one of {@code running}'s reloaded from
     * its running plugin, every other one created.
     *
     * @param running the config the running plugins were created from; null when nothing runs yet
     */
    private Pipeline build(ProxyConfig running, List<Plugin> runningPlugins, ProxyConfig config, PluginMetrics metrics)
            throws ConfigException {
        List<PluginConfig> runningEntries = running == null ? List.of() : running.plugins();
        boolean[] taken = new boolean[runningEntries.size()];
        if (runningPlugins.size() != runningEntries.size()) {
            // A pipeline not made from that config (tests make some): nothing can be matched to its entries.
            java.util.Arrays.fill(taken, true);
        }
        Set<Plugin> kept = Collections.newSetFromMap(new IdentityHashMap<>());
        List<String> problems = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<Plugin> plugins = new ArrayList<>();
        for (PluginConfig settings : config.plugins()) {
            PluginFactory factory = factories.get(settings.name());
            if (factory == null) {
                problems.add(settings.path() + ".name: unknown plugin '" + settings.name() + "'; known: "
                        + String.join(", ", factories.keySet()));
                continue;
            }
            PluginContext context = new PluginContext(settings, config, metrics);
            int same = sameEntry(runningEntries, taken, settings);
            try {
                Plugin plugin;
                if (same < 0) {
                    plugin = factory.create(context);
                } else {
                    taken[same] = true;
                    Plugin previous = runningPlugins.get(same);
                    plugin = factory.reload(previous, new PluginContext(runningEntries.get(same), running, metrics),
                            context);
                    if (plugin == previous) {
                        kept.add(plugin);
                    }
                }
                plugins.add(plugin);
                names.add(settings.name());
            } catch (ConfigException e) {
                problems.addAll(e.problems());
            }
        }
        if (!problems.isEmpty()) {
            plugins.stream().filter(plugin -> !kept.contains(plugin)).forEach(Plugin::close);
            throw new ConfigException(problems);
        }
        return Pipeline.named(names, plugins);
    }

    /** The index of the first entry not taken yet with the same name and settings, or -1. */
    private static int sameEntry(List<PluginConfig> running, boolean[] taken, PluginConfig wanted) {
        for (int i = 0; i < running.size(); i++) {
            PluginConfig candidate = running.get(i);
            if (!taken[i] && candidate.name().equals(wanted.name()) && candidate.settings().equals(wanted.settings())) {
                return i;
            }
        }
        return -1;
    }
}
