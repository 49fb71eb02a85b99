package io.powerproxy.upstream;

import io.powerproxy.config.EndpointConfig;
import io.powerproxy.config.StandinConfig;
import io.powerproxy.config.VirtualDeploymentConfig;
import io.powerproxy.pipeline.ProxyException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every target of the configuration, indexed by the deployment names clients ask for (§5).
 *
 * <p>A request for a deployment goes to the stand-ins of the virtual deployments of that name and to the
 * endpoints without virtual deployments. A request that names no deployment (files, assistants, models...) goes
 * to whole endpoints only, and is never rewritten.
 */
public final class Targets {

    private final List<Endpoint> endpoints;
    private final Map<String, List<Target>> byDeployment;
    private final List<Target> wholeEndpoints;
    private final List<Target> deploymentIndependent;

    private Targets(List<Endpoint> endpoints, Map<String, List<Target>> byDeployment, List<Target> wholeEndpoints,
            List<Target> deploymentIndependent) {
        this.endpoints = endpoints;
        this.byDeployment = byDeployment;
        this.wholeEndpoints = wholeEndpoints;
        this.deploymentIndependent = deploymentIndependent;
    }

    /** Builds the targets of the configured endpoints, in config order. */
    public static Targets of(List<EndpointConfig> configs) {
        List<Endpoint> endpoints = new ArrayList<>();
        Map<String, List<Target>> byDeployment = new LinkedHashMap<>();
        List<Target> whole = new ArrayList<>();
        List<Target> independent = new ArrayList<>();
        for (EndpointConfig config : configs) {
            Endpoint endpoint = Endpoint.of(config);
            endpoints.add(endpoint);
            Target.WholeEndpoint asWhole = new Target.WholeEndpoint(endpoint);
            independent.add(asWhole);
            if (config.virtualDeployments().isEmpty()) {
                whole.add(asWhole);
            }
            for (VirtualDeploymentConfig vd : config.virtualDeployments()) {
                for (StandinConfig standin : vd.standins()) {
                    byDeployment.computeIfAbsent(vd.name(), k -> new ArrayList<>())
                            .add(new Target.Standin(endpoint, vd.name(), standin));
                }
            }
        }
        byDeployment.replaceAll((k, v) -> List.copyOf(v));
        return new Targets(List.copyOf(endpoints), byDeployment, List.copyOf(whole), List.copyOf(independent));
    }

    public List<Endpoint> endpoints() {
        return endpoints;
    }

    /** The configured virtual deployment names, in config order. */
    public Set<String> virtualDeploymentNames() {
        return new LinkedHashSet<>(byDeployment.keySet());
    }

    /**
     * The targets that can serve a request, in config order.
     *
     * @param deployment the deployment the client asked for, or null when the request names none
     * @throws ProxyException 404 {@code DeploymentNotFound} when nothing serves that deployment
     */
    public List<Target> candidates(String deployment) {
        if (deployment == null) {
            return deploymentIndependent;
        }
        List<Target> standins = byDeployment.get(deployment);
        if (standins == null) {
            if (!wholeEndpoints.isEmpty()) {
                return wholeEndpoints;
            }
            throw ProxyException.of(404, "DeploymentNotFound", "The deployment '" + deployment
                    + "' is not configured at this proxy. Configured deployments: "
                    + String.join(", ", byDeployment.keySet()) + ".");
        }
        if (wholeEndpoints.isEmpty()) {
            return standins;
        }
        List<Target> all = new ArrayList<>(standins.size() + wholeEndpoints.size());
        all.addAll(standins);
        all.addAll(wholeEndpoints);
        return all;
    }
}
