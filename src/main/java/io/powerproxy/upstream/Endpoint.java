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
 * permits that bound requests in flight ({@code max_connections}), when it is blocked, and the rate limit its
 * deployments have left (headroom). A reloaded config whose
 * entry of the same name keeps the URL and the connection limits gets a new Endpoint with this one's state
 * (README "Changing the config while it runs").
 */
public final class Endpoint {

    /** Blocked deployment names kept before those whose block has ended are dropped. */
    private static final int MANY_BLOCKED_DEPLOYMENTS = 256;

    private final EndpointConfig config;
    private final String origin;
    private final String basePath;
    private final HttpClient.Version version;
    private final State state;

    /**
     * What outlives a config reload of an unchanged endpoint: everything that counts requests in flight or
     * remembers the endpoint's answers. State of the endpoint belongs here, not in the Endpoint's own fields.
     */
    private record State(Semaphore permits, FaultBlock unreachable,
            ConcurrentHashMap<String, FaultBlock> deploymentBlocks, ConcurrentHashMap<String, FaultBlock> standinBlocks,
            ConcurrentHashMap<String, Headroom> headrooms) {
    }

    private Endpoint(EndpointConfig config, String origin, State state) {
        this.config = config;
        URI url = config.url();
        this.origin = origin;
        this.state = state;
        String path = url.getRawPath() == null ? "" : url.getRawPath();
        this.basePath = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        // HTTP/2 only where asked for: the JDK client fails every request beyond the server's limit of concurrent
        // streams on its one connection per host instead of opening another (README "8. Server and client settings").
        // Plain-http upstreams would get an h2c upgrade attempt.
        this.version = "https".equalsIgnoreCase(url.getScheme()) && config.http2()
                ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1;
    }

    /**
     * An endpoint whose "unreachable" block it shares with the other endpoints of the same scheme, host and port
     * ({@code unreachableByOrigin} maps origins to it): a host that refuses connections refuses them for every
     * entry that names it, for example the PTU and pay-as-you-go entries of one resource.
     */
    static Endpoint of(EndpointConfig config, Map<String, FaultBlock> unreachableByOrigin) {
        return of(config, unreachableByOrigin, null);
    }

    /**
     * The same, taking over the state of {@code running} (the endpoint of the same name in the running config, or
     * null) when {@link #keepsStateOf} says so.
     */
    static Endpoint of(EndpointConfig config, Map<String, FaultBlock> unreachableByOrigin, Endpoint running) {
        String origin = origin(config);
        if (running != null && keepsStateOf(running.config, config)) {
            return new Endpoint(config, origin, running.state);
        }
        FaultBlock unreachable = unreachableByOrigin.computeIfAbsent(origin.toLowerCase(Locale.ROOT),
                key -> new FaultBlock());
        return new Endpoint(config, origin, new State(new Semaphore(config.limits().maxConnections()), unreachable,
                new ConcurrentHashMap<>(), new ConcurrentHashMap<>(), new ConcurrentHashMap<>()));
    }

    /**
     * Whether an endpoint configured as {@code next} keeps the state (permits in use, blocks) of one configured as
     * {@code running}: same name, URL and connection limits. Its key, timeouts, priority, weight and virtual
     * deployments may differ; they change how requests are sent, not what the endpoint has been answering.
     */
    static boolean keepsStateOf(EndpointConfig running, EndpointConfig next) {
        return running.name().equals(next.name()) && running.url().equals(next.url())
                && running.limits().equals(next.limits());
    }

    /** The scheme, host and port the endpoint's requests go to, as its URL spells them. */
    static String origin(EndpointConfig config) {
        if (!config.url().isAbsolute() || config.url().getRawAuthority() == null) {
            throw new IllegalArgumentException(config.path() + ".url is not an absolute URL");
        }
        return config.url().getScheme() + "://" + config.url().getRawAuthority();
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

    /**
     * The Azure resource the endpoint talks to, as its URL without a trailing slash: entries with the same URL (a PTU
     * and a pay-as-you-go entry of one resource) see the same files, threads and responses.
     */
    String resource() {
        return origin.toLowerCase(Locale.ROOT) + basePath;
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
        return state.permits();
    }

    /**
     * The block of the endpoint as a whole: it, or another endpoint on the same host, could not be connected to.
     */
    FaultBlock unreachable() {
        return state.unreachable();
    }

    /** The block of one stand-in of a virtual deployment served here, made on its first use. */
    FaultBlock standinBlock(String virtualDeployment, String standin) {
        return state.standinBlocks().computeIfAbsent(virtualDeployment + '\n' + standin, k -> new FaultBlock());
    }

    /** Until when (balancer clock, ms) a deployment requested as-is at this endpoint is blocked; looks only. */
    long deploymentBlockedUntil(String deployment) {
        FaultBlock block = state.deploymentBlocks().get(deployment == null ? "" : deployment);
        return block == null ? Long.MIN_VALUE : block.until();
    }

    /**
     * The block of a deployment requested as-is at this endpoint, made on its first use. Clients choose deployment
     * names, so only names that were blocked get an entry, and entries whose block has ended are dropped once there
     * are many: the map cannot grow without bound.
     */
    FaultBlock deploymentBlock(String deployment, long now) {
        if (state.deploymentBlocks().size() >= MANY_BLOCKED_DEPLOYMENTS) {
            state.deploymentBlocks().values().removeIf(blocked -> blocked.until() <= now);
        }
        return state.deploymentBlocks().computeIfAbsent(deployment == null ? "" : deployment, k -> new FaultBlock());
    }

    /** An answer for a deployment requested as-is arrived: its next timeout counts as the first again. */
    void deploymentAnswered(String deployment) {
        FaultBlock block = state.deploymentBlocks().get(deployment == null ? "" : deployment);
        if (block != null) {
            block.answered();
        }
    }

    /**
     * The headroom of a deployment at this endpoint, by the name sent upstream (Azure limits each deployment of a
     * resource by itself), made on its first use. As with blocks, entries that know nothing any more are dropped once
     * there are many, so client-chosen names cannot grow the map without bound.
     */
    Headroom headroom(String upstreamDeployment, long now) {
        Headroom existing = state.headrooms().get(upstreamDeployment);
        if (existing != null) {
            return existing;
        }
        if (state.headrooms().size() >= MANY_BLOCKED_DEPLOYMENTS) {
            state.headrooms().values().removeIf(headroom -> headroom.isIdle(now));
        }
        return state.headrooms().computeIfAbsent(upstreamDeployment, k -> new Headroom());
    }

    /** The headroom of a deployment if one was made; looks only. */
    Headroom existingHeadroom(String upstreamDeployment) {
        return state.headrooms().get(upstreamDeployment);
    }

    /** Until when (balancer clock, ms) the longest-blocked deployment name requested as-is here is blocked. */
    long latestDeploymentBlock() {
        long latest = Long.MIN_VALUE;
        for (FaultBlock block : state.deploymentBlocks().values()) {
            latest = Math.max(latest, block.until());
        }
        return latest;
    }

    /** How many deployment names have a block entry, for tests of the bound. */
    int blockedDeploymentNames() {
        return state.deploymentBlocks().size();
    }

    @Override
    public String toString() {
        return "Endpoint[" + config.name() + " " + origin + basePath + "]";
    }
}
