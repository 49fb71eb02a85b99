package io.powerproxy.config;

import java.net.URI;
import java.util.List;

/**
 * One Azure OpenAI endpoint.
 *
 * @param name unique display name
 * @param url absolute http(s) URL; request paths are appended to its path
 * @param key the endpoint's API key, or null to authenticate with Entra ID
 * @param nonStreamingFraction share of non-streaming requests this endpoint takes, 0..1
 * @param priority lower is tried first; defaults to the endpoint's position in the config
 * @param weight relative share among targets of equal priority, positive
 * @param limits connection limits
 * @param timeouts connection timeouts
 * @param http2 whether requests to an https endpoint offer HTTP/2 ({@code connections.http2}, default false: HTTP/1.1,
 *     as the original speaks); an http endpoint always gets HTTP/1.1
 * @param virtualDeployments the virtual deployments served by stand-ins here; empty when the endpoint serves any
 *     deployment under the name asked for
 * @param path where this endpoint is in the config, e.g. {@code aoai.endpoints[0]}
 */
public record EndpointConfig(
        String name,
        URI url,
        String key,
        double nonStreamingFraction,
        int priority,
        double weight,
        ConnectionLimits limits,
        Timeouts timeouts,
        boolean http2,
        List<VirtualDeploymentConfig> virtualDeployments,
        String path) {

    public EndpointConfig {
        virtualDeployments = List.copyOf(virtualDeployments);
    }

    @Override
    public String toString() {
        return "EndpointConfig[name=" + name + ", url=" + url + ", key=" + Secrets.mask(key) + "]";
    }
}
