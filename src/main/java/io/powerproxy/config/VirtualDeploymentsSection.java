package io.powerproxy.config;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** Builds an endpoint's {@code virtual_deployments:}, each with the stand-in deployments that serve it. */
final class VirtualDeploymentsSection {

    private static final Set<String> VIRTUAL_DEPLOYMENT_KEYS = Set.of("name", "standins");
    private static final Set<String> STANDIN_KEYS = Set.of("name", "non_streaming_fraction", "priority", "weight");

    private final SettingReader read;
    private final RequestShares shares;

    VirtualDeploymentsSection(SettingReader read, RequestShares shares) {
        this.read = read;
        this.shares = shares;
    }

    List<VirtualDeploymentConfig> build(Map<String, Object> endpoint, String endpointPath) {
        List<Object> items = read.list(endpoint, "virtual_deployments", endpointPath, false);
        if (items == null) {
            return List.of();
        }
        return read.namedMappings(items, endpointPath + ".virtual_deployments", VIRTUAL_DEPLOYMENT_KEYS,
                "virtual deployment names must be unique within an endpoint",
                (name, virtualDeployment, path, index) ->
                        new VirtualDeploymentConfig(name, standins(virtualDeployment, path), path));
    }

    private List<StandinConfig> standins(Map<String, Object> virtualDeployment, String virtualDeploymentPath) {
        List<Object> items = read.nonEmptyList(virtualDeployment, "standins", virtualDeploymentPath,
                "stand-in deployment");
        if (items == null) {
            return List.of();
        }
        return read.namedMappings(items, virtualDeploymentPath + ".standins", STANDIN_KEYS,
                "stand-in names must be unique within a virtual deployment",
                (name, standin, path, index) -> standin(name, standin, path, index, index == items.size() - 1));
    }

    private StandinConfig standin(String name, Map<String, Object> standin, String path, int index, boolean last) {
        double nonStreamingFraction = shares.nonStreamingFraction(standin, path);
        int priority = shares.priority(standin, path, index);
        double weight = shares.weight(standin, path);
        if (last) {
            shares.checkLastTakesAll(path, nonStreamingFraction, "stand-in");
        }
        return new StandinConfig(name, nonStreamingFraction, priority, weight, path);
    }
}
