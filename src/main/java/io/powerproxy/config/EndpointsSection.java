package io.powerproxy.config;

import static io.powerproxy.config.ConfigProblems.abbreviate;
import static io.powerproxy.config.ConfigProblems.child;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Builds {@code aoai.endpoints:}: each endpoint's URL, key, share of requests, connections and virtual deployments. */
final class EndpointsSection {

    private static final Set<String> ENDPOINT_KEYS = Set.of("name", "url", "key", "non_streaming_fraction", "priority",
            "weight", "connections", "virtual_deployments");
    private static final Set<String> CONNECTIONS_KEYS = Set.of("limits", "timeouts", "http2");
    private static final Set<String> LIMITS_KEYS = Set.of("max_connections", "max_keepalive_connections",
            "keepalive_expiry");
    private static final Set<String> TIMEOUTS_KEYS = Set.of("connect", "read", "write", "pool");

    private final SettingReader read;
    private final ConfigProblems problems;
    private final RequestShares shares;
    private final VirtualDeploymentsSection virtualDeployments;

    EndpointsSection(SettingReader read, ConfigProblems problems) {
        this.read = read;
        this.problems = problems;
        this.shares = new RequestShares(read, problems);
        this.virtualDeployments = new VirtualDeploymentsSection(read, shares);
    }

    /** With {@code mocked}, the proxy answers itself and the endpoints may be left out. */
    List<EndpointConfig> build(Map<String, Object> aoai, boolean mocked) {
        List<Object> items = read.list(aoai, "endpoints", "aoai", false);
        boolean missing = aoai.get("endpoints") == null || items != null && items.isEmpty();
        if (missing && !mocked) {
            problems.add("aoai.endpoints must list at least one Azure OpenAI endpoint (or set aoai.mock_response)");
        }
        if (items == null) {
            return List.of();
        }
        Map<String, String> pathsByName = new HashMap<>();
        return read.mappings(items, "aoai.endpoints", (endpoint, path, index) -> {
            EndpointConfig config = endpoint(endpoint, path, index);
            read.checkUnique(pathsByName, config.name(), path, "name", "endpoint names must be unique");
            if (index == items.size() - 1) {
                shares.checkLastTakesAll(path, config.nonStreamingFraction(), "endpoint");
            }
            return config;
        });
    }

    private EndpointConfig endpoint(Map<String, Object> endpoint, String path, int index) {
        read.warnUnknownKeys(endpoint, path, ENDPOINT_KEYS);
        String name = read.requiredName(endpoint, path);
        URI url = url(endpoint, path);
        String key = read.text(endpoint, "key", path, false);
        if (key != null && key.isBlank()) {
            problems.add(path + ".key must not be blank (leave it out to authenticate with Entra ID)");
        }
        double nonStreamingFraction = shares.nonStreamingFraction(endpoint, path);
        int priority = shares.priority(endpoint, path, index);
        double weight = shares.weight(endpoint, path);
        Map<String, Object> connections = read.mapping(endpoint, "connections", path);
        String connectionsPath = path + ".connections";
        if (connections != null) {
            read.warnUnknownKeys(connections, connectionsPath, CONNECTIONS_KEYS);
        }
        ConnectionLimits limits = limits(connections, connectionsPath);
        Timeouts timeouts = timeouts(connections, connectionsPath);
        boolean http2 = connections != null && read.bool(connections, "http2", connectionsPath);
        return new EndpointConfig(name, url, key, nonStreamingFraction, priority, weight, limits, timeouts, http2,
                virtualDeployments.build(endpoint, path), path);
    }

    /** An absolute http(s) URL without user info, query or fragment; trailing slashes dropped. */
    private URI url(Map<String, Object> endpoint, String parentPath) {
        String path = parentPath + ".url";
        String text = read.text(endpoint, "url", parentPath, true);
        if (text == null || problems.isPlaceholder(path)) {
            return null;
        }
        // A URL with user info or a query may carry a secret: such a value is never quoted back.
        String shown = text.contains("@") || text.contains("?") ? "a URL that is not shown" : "'" + abbreviate(text) + "'";
        URI uri;
        try {
            uri = new URI(text.strip());
        } catch (URISyntaxException e) {
            problems.add(path + " must be an absolute http(s) URL, got " + shown);
            return null;
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (uri.isOpaque() || !(scheme.equals("http") || scheme.equals("https"))) {
            problems.add(path + " must be an absolute http(s) URL, got " + shown);
        } else if (uri.getRawUserInfo() != null) {
            problems.add(path + " must be an absolute http(s) URL without user info (user:password@)");
        } else if (uri.getHost() == null) {
            problems.add(path + " must be an absolute http(s) URL with a valid host name, got " + shown);
        } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            problems.add(path + " must be an absolute http(s) URL without a query or fragment"
                    + " (request paths and queries are appended to it)");
        } else {
            String rawPath = uri.getRawPath() == null ? "" : uri.getRawPath().replaceAll("/+$", "");
            return URI.create(scheme + "://" + uri.getRawAuthority() + rawPath);
        }
        return null;
    }

    private ConnectionLimits limits(Map<String, Object> connections, String connectionsPath) {
        Map<String, Object> limits = connectionSettings(connections, "limits", connectionsPath, LIMITS_KEYS);
        String path = connectionsPath + ".limits";
        ConnectionLimits defaults = ConnectionLimits.DEFAULTS;
        return limits == null ? defaults : new ConnectionLimits(
                read.whole(limits, "max_connections", path, defaults.maxConnections(), 1, "a whole number of at least 1"),
                read.whole(limits, "max_keepalive_connections", path, defaults.maxKeepaliveConnections(), 0,
                        "a whole number of at least 0"),
                read.seconds(limits, "keepalive_expiry", path, defaults.keepaliveExpiry(), false));
    }

    private Timeouts timeouts(Map<String, Object> connections, String connectionsPath) {
        Map<String, Object> timeouts = connectionSettings(connections, "timeouts", connectionsPath, TIMEOUTS_KEYS);
        String path = connectionsPath + ".timeouts";
        Timeouts defaults = Timeouts.DEFAULTS;
        return timeouts == null ? defaults : new Timeouts(
                read.seconds(timeouts, "connect", path, defaults.connect(), true),
                read.seconds(timeouts, "read", path, defaults.read(), true),
                read.seconds(timeouts, "write", path, defaults.write(), true),
                read.seconds(timeouts, "pool", path, defaults.pool(), true));
    }

    /** {@code connections.limits} or {@code connections.timeouts}; null when not set, so the defaults apply. */
    private Map<String, Object> connectionSettings(Map<String, Object> connections, String key, String connectionsPath,
            Set<String> knownKeys) {
        Map<String, Object> settings = connections == null ? null : read.mapping(connections, key, connectionsPath);
        if (settings != null) {
            read.warnUnknownKeys(settings, child(connectionsPath, key), knownKeys);
        }
        return settings;
    }
}
