package io.powerproxy.config;

import java.util.List;

/**
 * A deployment name clients ask for, served by one or more real deployments (stand-ins) of an endpoint.
 *
 * @param name the name clients use
 * @param standins the real deployments, in config order
 * @param path where it is in the config, e.g. {@code aoai.endpoints[0].virtual_deployments[1]}
 */
public record VirtualDeploymentConfig(String name, List<StandinConfig> standins, String path) {

    public VirtualDeploymentConfig {
        standins = List.copyOf(standins);
    }
}
