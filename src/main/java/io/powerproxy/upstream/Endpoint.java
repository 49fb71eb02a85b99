package io.powerproxy.upstream;

import io.powerproxy.config.EndpointConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * An Azure OpenAI endpoint at run time: its configuration, where its requests go, and its shared state: the
 * permits that bound requests in flight ({@code max_connections}) and when it is blocked.
 */
public final class Endpoint {

    /** Blocked deployment names kept before those whose block has ended are dropped. */
    private static final int MANY_BLOCKED_DEPLOYMENTS = 256;

    private final EndpointConfig config;
    private final String origin;
    private final String basePath;
    private final HttpClient.Version version;
    private final Semaphore permits;
    private final FaultBlock unreachable;
    private final ConcurrentHashMap<String, FaultBlock> deploymentBlocks = new ConcurrentHashMap<>();

    private Endpoint(EndpointConfig config, String origin, FaultBlock unreachable) {
        this.config = config;
        URI url = config.url();
        this.origin = origin;
        this.unreachable = unreachable;
        String path = url.getRawPath() == null ? "" : url.getRawPath();
        this.basePath = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        // Plain-http upstreams (tests, local mocks) would get an h2c upgrade attempt otherwise.
        this.version = "https".equalsIgnoreCase(url.getScheme()) ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1;
        this.permits = new Semaphore(config.limits().maxConnections());
    }

    /**
     * An endpoint whose "unreachable" block it shares with the other endpoints of the same scheme, host and port
     * ({@code unreachableByOrigin} maps origins to it): a host that refuses connections refuses them for every
     * entry that names it, for example the PTU and pay-as-you-go entries of one resource.
     */
    static Endpoint of(EndpointConfig config, Map<String, FaultBlock> unreachableByOrigin) {
        if (!config.url().isAbsolute() || config.url().getRawAuthority() == null) {
            throw new IllegalArgumentException(config.path() + ".url is not an absolute URL");
        }
        String origin = config.url().getScheme() + "://" + config.url().getRawAuthority();
        FaultBlock unreachable = unreachableByOrigin.computeIfAbsent(origin.toLowerCase(Locale.ROOT),
                key -> new FaultBlock());
        return new Endpoint(config, origin, unreachable);
    }

    EndpointConfig config() {
        return config;
    }

    public String name() {
        return config.name();
    }

    /** Whether the endpoint authenticates with its own API key (else with an Entra ID token). */
    boolean hasKey() {
        return config.key() != null;
    }

    HttpClient.Version version() {
        return version;
    }

    /**
     * The upstream URI for a request path and query. The path must start with a single {@code /}; the result
     * always has this endpoint's scheme, host and port, whatever the path holds.
     */
    URI uri(String rawPath, String rawQuery) {
        StringBuilder sb = new StringBuilder(origin.length() + basePath.length() + rawPath.length() + 64);
        sb.append(origin).append(basePath).append(rawPath);
        if (rawQuery != null) {
            sb.append('?').append(rawQuery);
        }
        URI uri = URI.create(sb.toString());
        // Checks that the request did not change the host, whatever the path held.
        if (!origin.equals(uri.getScheme() + "://" + uri.getRawAuthority())) {
            throw new IllegalArgumentException("path escapes the endpoint: " + rawPath);
        }
        return uri;
    }

    /** Requests in flight to this endpoint hold one permit each. */
    Semaphore permits() {
        return permits;
    }

    /**
     * The block of the endpoint as a whole: it, or another endpoint on the same host, could not be connected to.
     */
    FaultBlock unreachable() {
        return unreachable;
    }

    /** Until when (balancer clock, ms) a deployment requested as-is at this endpoint is blocked; looks only. */
    long deploymentBlockedUntil(String deployment) {
        FaultBlock block = deploymentBlocks.get(deployment == null ? "" : deployment);
        return block == null ? Long.MIN_VALUE : block.until();
    }

    /**
     * The block of a deployment requested as-is at this endpoint, made on its first use. Clients choose deployment
     * names, so only names that were blocked get an entry, and entries whose block has ended are dropped once there
     * are many: the map cannot grow without bound.
     */
    FaultBlock deploymentBlock(String deployment, long now) {
        if (deploymentBlocks.size() >= MANY_BLOCKED_DEPLOYMENTS) {
            deploymentBlocks.values().removeIf(blocked -> blocked.until() <= now);
        }
        return deploymentBlocks.computeIfAbsent(deployment == null ? "" : deployment, k -> new FaultBlock());
    }

    /** An answer for a deployment requested as-is arrived: its next timeout counts as the first again. */
    void deploymentAnswered(String deployment) {
        FaultBlock block = deploymentBlocks.get(deployment == null ? "" : deployment);
        if (block != null) {
            block.answered();
        }
    }

    /** Until when (balancer clock, ms) the longest-blocked deployment name requested as-is here is blocked. */
    long latestDeploymentBlock() {
        long latest = Long.MIN_VALUE;
        for (FaultBlock block : deploymentBlocks.values()) {
            latest = Math.max(latest, block.until());
        }
        return latest;
    }

    /** How many deployment names have a block entry, for tests of the bound. */
    int blockedDeploymentNames() {
        return deploymentBlocks.size();
    }

    @Override
    public String toString() {
        return "Endpoint[" + config.name() + " " + origin + basePath + "]";
    }
}
