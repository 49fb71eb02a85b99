package io.powerproxy.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a reloaded config changes, by name: clients, endpoints, virtual deployments and plugins added, removed or
 * changed, with the names of the settings that changed. It holds no setting's value, so no key can leak into the log.
 *
 * @param clientsAdded names of clients only the new config has
 * @param clientsRemoved names of clients only the running config has
 * @param clientsChanged each changed client's name with the names of its settings that differ
 * @param endpointsAdded names of endpoints only the new config has
 * @param endpointsRemoved names of endpoints only the running config has
 * @param endpointsChanged each changed endpoint's name with the names of its settings that differ
 * @param deploymentsAdded virtual deployments only the new config serves
 * @param deploymentsRemoved virtual deployments only the running config serves
 * @param pluginsAdded plugins only the new config runs
 * @param pluginsRemoved plugins only the running config runs
 * @param pluginsChanged plugins both run, with other settings
 * @param othersChanged other settings that differ ({@code aoai.mock_response}...)
 */
public record ConfigDiff(List<String> clientsAdded, List<String> clientsRemoved,
        Map<String, Set<String>> clientsChanged, List<String> endpointsAdded, List<String> endpointsRemoved, Map<String, Set<String>> endpointsChanged,
        List<String> deploymentsAdded, List<String> deploymentsRemoved, List<String> pluginsAdded,
        List<String> pluginsRemoved, List<String> pluginsChanged, List<String> othersChanged) {

    /** The changes from {@code running} to {@code next}. */
    public static ConfigDiff between(ProxyConfig running, ProxyConfig next) {
        Map<String, ClientConfig> clientsBefore = byName(running.clients(), ClientConfig::name);
        Map<String, ClientConfig> clientsAfter = byName(next.clients(), ClientConfig::name);
        Map<String, Set<String>> clientsChanged = new LinkedHashMap<>();
        clientsAfter.forEach((name, after) -> {
            ClientConfig before = clientsBefore.get(name);
            if (before != null) {
                Set<String> changed = changedKeys(before.settings(), after.settings());
                if (!changed.isEmpty()) {
                    clientsChanged.put(name, changed);
                }
            }
        });
        Map<String, EndpointConfig> endpointsBefore = byName(running.aoai().endpoints(), EndpointConfig::name);
        Map<String, EndpointConfig> endpointsAfter = byName(next.aoai().endpoints(), EndpointConfig::name);
        Map<String, Set<String>> endpointsChanged = new LinkedHashMap<>();
        endpointsAfter.forEach((name, after) -> {
            EndpointConfig before = endpointsBefore.get(name);
            if (before != null) {
                Set<String> changed = changedKeys(endpointSettings(before), endpointSettings(after));
                if (!changed.isEmpty()) {
                    endpointsChanged.put(name, changed);
                }
            }
        });
        Set<String> deploymentsBefore = deployments(running);
        Set<String> deploymentsAfter = deployments(next);

        List<PluginConfig> pluginsBefore = new ArrayList<>(running.plugins());
        List<PluginConfig> pluginsAfter = new ArrayList<>();
        for (PluginConfig plugin : next.plugins()) {
            int same = indexOf(pluginsBefore, plugin, true);
            if (same >= 0) {
                pluginsBefore.remove(same);
            } else {
                pluginsAfter.add(plugin);
            }
        }
        List<String> pluginsChanged = new ArrayList<>();
        List<String> pluginsAdded = new ArrayList<>();
        for (PluginConfig plugin : pluginsAfter) {
            int sameName = indexOf(pluginsBefore, plugin, false);
            if (sameName >= 0) {
                pluginsBefore.remove(sameName);
                pluginsChanged.add(plugin.name());
            } else {
                pluginsAdded.add(plugin.name());
            }
        }
        List<String> othersChanged = new ArrayList<>();
        if (!Objects.equals(running.aoai().mockResponse(), next.aoai().mockResponse())) {
            othersChanged.add("aoai.mock_response");
        }
        if (!Objects.equals(pattern(running), pattern(next))) {
            othersChanged.add("aoai.forward_http_header_only_if_name_matches");
        }
        if (!Objects.equals(running.userAssignedManagedIdentityClientId(),
                next.userAssignedManagedIdentityClientId())) {
            othersChanged.add("user_assigned_managed_identity_client_id");
        }
        return new ConfigDiff(minus(clientsAfter.keySet(), clientsBefore.keySet()),
                minus(clientsBefore.keySet(), clientsAfter.keySet()), clientsChanged,
                minus(endpointsAfter.keySet(), endpointsBefore.keySet()),
                minus(endpointsBefore.keySet(), endpointsAfter.keySet()), endpointsChanged,
                minus(deploymentsAfter, deploymentsBefore), minus(deploymentsBefore, deploymentsAfter),
                pluginsAdded, pluginsBefore.stream().map(PluginConfig::name).toList(), pluginsChanged, othersChanged);
    }

    /** Whether the new config differs from the running one in nothing this diff tells. */
    public boolean isEmpty() {
        return describe().isEmpty();
    }

    /**
     * One line for the log, e.g. {@code clients added [team-b]; endpoints removed [Sweden]; clients changed
     * [team-a (key)]}; empty when nothing changed.
     */
    public String describe() {
        List<String> parts = new ArrayList<>();
        add(parts, "clients added", clientsAdded);
        add(parts, "clients removed", clientsRemoved);
        add(parts, "clients changed", withKeys(clientsChanged));
        add(parts, "endpoints added", endpointsAdded);
        add(parts, "endpoints removed", endpointsRemoved);
        add(parts, "endpoints changed", withKeys(endpointsChanged));
        add(parts, "deployments added", deploymentsAdded);
        add(parts, "deployments removed", deploymentsRemoved);
        add(parts, "plugins added", pluginsAdded);
        add(parts, "plugins removed", pluginsRemoved);
        add(parts, "plugins changed", pluginsChanged);
        add(parts, "changed", othersChanged);
        return String.join("; ", parts);
    }

    private static void add(List<String> parts, String what, List<String> names) {
        if (!names.isEmpty()) {
            parts.add(what + " " + names);
        }
    }

    private static List<String> withKeys(Map<String, Set<String>> changed) {
        List<String> described = new ArrayList<>();
        changed.forEach((name, keys) -> described.add(name + " (" + String.join(", ", keys) + ")"));
        return described;
    }

    /** An endpoint's settings by their YAML names; values are compared, never printed. */
    private static Map<String, Object> endpointSettings(EndpointConfig endpoint) {
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("url", endpoint.url());
        settings.put("key", endpoint.key());
        settings.put("non_streaming_fraction", endpoint.nonStreamingFraction());
        settings.put("priority", endpoint.priority());
        settings.put("weight", endpoint.weight());
        settings.put("connections", endpoint.limits());
        settings.put("timeouts", endpoint.timeouts());
        settings.put("virtual_deployments", endpoint.virtualDeployments().stream()
                .map(vd -> vd.name() + vd.standins().stream()
                        .map(s -> List.of(s.name(), s.nonStreamingFraction(), s.priority(), s.weight())).toList())
                .toList());
        return settings;
    }

    private static Set<String> changedKeys(Map<String, Object> before, Map<String, Object> after) {
        Set<String> keys = new TreeSet<>(before.keySet());
        keys.addAll(after.keySet());
        keys.removeIf(key -> Objects.equals(before.get(key), after.get(key)));
        return keys;
    }

    private static Set<String> deployments(ProxyConfig config) {
        Set<String> names = new TreeSet<>();
        config.aoai().endpoints().forEach(e -> e.virtualDeployments().forEach(vd -> names.add(vd.name())));
        return names;
    }

    private static String pattern(ProxyConfig config) {
        return config.aoai().forwardHeaderOnlyIfNameMatches() == null ? null
                : config.aoai().forwardHeaderOnlyIfNameMatches().pattern();
    }

    private static int indexOf(List<PluginConfig> plugins, PluginConfig wanted, boolean sameSettings) {
        for (int i = 0; i < plugins.size(); i++) {
            PluginConfig candidate = plugins.get(i);
            if (candidate.name().equals(wanted.name())
                    && (!sameSettings || candidate.settings().equals(wanted.settings()))) {
                return i;
            }
        }
        return -1;
    }

    private static <T> Map<String, T> byName(List<T> items, java.util.function.Function<T, String> name) {
        Map<String, T> byName = new LinkedHashMap<>();
        items.forEach(item -> byName.put(name.apply(item), item));
        return byName;
    }

    private static List<String> minus(Set<String> a, Set<String> b) {
        Set<String> rest = new LinkedHashSet<>(a);
        rest.removeAll(b);
        return List.copyOf(rest);
    }
}
