package io.powerproxy.metrics;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.EndpointConfig;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.config.StandinConfig;
import io.powerproxy.config.VirtualDeploymentConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The label values one configuration allows, each with its index: the configured clients, deployments and endpoints,
 * plus {@value #NONE} (the request had none) and {@value #OTHER} (a name the configuration does not know), so that no
 * client can grow the number of series by sending made-up names.
 *
 * <p>Deployments are those the configuration names anywhere: virtual deployments and their stand-ins, the clients'
 * {@code deployments_allowed}, and the deployments of a per-deployment {@code max_tokens_per_minute_in_k}.
 */
final class LabelValues {

    static final String NONE = "none";
    static final String OTHER = "other";
    /** The endpoint label of requests the built-in mock answered. */
    static final String MOCK = "mock";
    static final int NONE_INDEX = 0;
    static final int OTHER_INDEX = 1;

    private final List<String> clients;
    private final List<String> deployments;
    private final List<String> endpoints;
    private final Map<String, Integer> clientIndex;
    private final Map<String, Integer> deploymentIndex;
    private final Map<String, Integer> endpointIndex;

    private LabelValues(List<String> clients, List<String> deployments, List<String> endpoints) {
        this.clients = clients;
        this.deployments = deployments;
        this.endpoints = endpoints;
        this.clientIndex = indexOf(clients);
        this.deploymentIndex = indexOf(deployments);
        this.endpointIndex = indexOf(endpoints);
    }

    static LabelValues of(ProxyConfig config) {
        Set<String> clients = start();
        Set<String> deployments = start();
        Set<String> endpoints = start();
        for (ClientConfig client : config.clients()) {
            clients.add(client.name());
            if (client.deploymentsAllowed() != null) {
                deployments.addAll(client.deploymentsAllowed());
            }
            if (client.settings().get("max_tokens_per_minute_in_k") instanceof Map<?, ?> perDeployment) {
                perDeployment.keySet().forEach(name -> deployments.add(String.valueOf(name)));
            }
        }
        for (EndpointConfig endpoint : config.aoai().endpoints()) {
            endpoints.add(endpoint.name());
            for (VirtualDeploymentConfig virtual : endpoint.virtualDeployments()) {
                deployments.add(virtual.name());
                for (StandinConfig standin : virtual.standins()) {
                    deployments.add(standin.name());
                }
            }
        }
        if (config.aoai().mockResponse() != null) {
            endpoints.add(MOCK);
        }
        return new LabelValues(List.copyOf(clients), List.copyOf(deployments), List.copyOf(endpoints));
    }

    private static Set<String> start() {
        Set<String> values = new LinkedHashSet<>();
        values.add(NONE);
        values.add(OTHER);
        return values;
    }

    private static Map<String, Integer> indexOf(List<String> values) {
        Map<String, Integer> index = new HashMap<>(values.size() * 2);
        for (int i = 0; i < values.size(); i++) {
            index.put(values.get(i), i);
        }
        return Map.copyOf(index);
    }

    private static int index(Map<String, Integer> index, String name) {
        if (name == null) {
            return NONE_INDEX;
        }
        Integer i = index.get(name);
        return i == null ? OTHER_INDEX : i;
    }

    int client(String name) {
        return index(clientIndex, name);
    }

    int deployment(String name) {
        return index(deploymentIndex, name);
    }

    int endpoint(String name) {
        return index(endpointIndex, name);
    }

    String clientName(int index) {
        return clients.get(index);
    }

    String deploymentName(int index) {
        return deployments.get(index);
    }

    String endpointName(int index) {
        return endpoints.get(index);
    }

    int clientCount() {
        return clients.size();
    }

    int deploymentCount() {
        return deployments.size();
    }

    int endpointCount() {
        return endpoints.size();
    }

    List<String> endpoints() {
        return new ArrayList<>(endpoints);
    }
}
