package io.powerproxy.config;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;

/** The start-up banner's summary of a configuration, with every secret masked. */
public final class ConfigSummary {

    /** Client keys shown in their own words; any other client setting is listed as is (masked if secret). */
    private static final Set<String> CLIENT_KEYS_SHOWN_APART = Set.of("name", "description", "key", "uses_entra_id_auth",
            "deployments_allowed");

    private ConfigSummary() {
    }

    /** Describes clients, plugins, endpoints, virtual deployments, stand-ins and the mock response, one per line. */
    public static String describe(ProxyConfig config) {
        StringBuilder out = new StringBuilder();
        out.append("clients (").append(config.clients().size()).append("):\n");
        for (ClientConfig client : config.clients()) {
            out.append("  - ").append(client.name()).append(": ")
                    .append(client.usesEntraIdAuth() ? "Entra ID" : "key " + Secrets.mask(client.key()))
                    .append(", deployments allowed: ").append(deployments(client.deploymentsAllowed()));
            client.settings().forEach((name, value) -> {
                if (!CLIENT_KEYS_SHOWN_APART.contains(name)) {
                    out.append(", ").append(name).append(' ').append(value(name, value));
                }
            });
            out.append('\n');
        }
        out.append("plugins (").append(config.plugins().size()).append("):\n");
        for (PluginConfig plugin : config.plugins()) {
            out.append("  - ").append(plugin.name());
            if (!plugin.settings().isEmpty()) {
                out.append(": ").append(settings(plugin.settings()));
            }
            out.append('\n');
        }
        out.append("managed identity for Azure: ").append(config.userAssignedManagedIdentityClientId() == null
                ? "DefaultAzureCredential"
                : "user-assigned, client id " + config.userAssignedManagedIdentityClientId()).append('\n');
        AoaiConfig aoai = config.aoai();
        if (aoai == null) {
            return out.toString().stripTrailing();
        }
        out.append("forwarded request headers: ").append(aoai.forwardHeaderOnlyIfNameMatches() == null
                ? "all"
                : "names matching " + aoai.forwardHeaderOnlyIfNameMatches().pattern()).append('\n');
        out.append("endpoints (").append(aoai.endpoints().size()).append("):\n");
        for (EndpointConfig endpoint : aoai.endpoints()) {
            appendEndpoint(out, endpoint);
        }
        MockResponse mock = aoai.mockResponse();
        if (mock == null && aoai.headroom() != null) {
            out.append(headroom(aoai.headroom())).append('\n');
        }
        if (mock != null) {
            out.append("mock response: every request is answered by the proxy after ")
                    .append(mock.waitBeforeReturn().toMillis()).append(" ms with ")
                    .append(mock.json() == null ? 0 : mock.json().length()).append(" characters of JSON\n");
        }
        return out.toString().stripTrailing();
    }

    private static String headroom(HeadroomConfig headroom) {
        if (!headroom.enabled()) {
            return "headroom: off (targets in priority order, failover on 429)";
        }
        Object redisHost = headroom.redis() == null ? null : headroom.redis().get("redis_host");
        return "headroom: on, default_completion_tokens " + headroom.defaultCompletionTokens()
                + ", min_remaining_tokens " + headroom.minRemainingTokens() + ", min_remaining_requests "
                + headroom.minRemainingRequests() + ", window_seconds " + seconds(headroom.window())
                + (redisHost == null ? ", per replica"
                        : ", shared through Redis at " + redisHost + " (prefix " + headroom.redisKeyPrefix() + ")");
    }

    private static void appendEndpoint(StringBuilder out, EndpointConfig endpoint) {
        ConnectionLimits limits = endpoint.limits();
        Timeouts timeouts = endpoint.timeouts();
        out.append("  - ").append(endpoint.name()).append(": ").append(endpoint.url())
                .append(", ").append(endpoint.key() == null ? "Entra ID token" : "key " + Secrets.mask(endpoint.key()))
                .append(", non_streaming_fraction ").append(number(endpoint.nonStreamingFraction()))
                .append(", priority ").append(endpoint.priority())
                .append(", weight ").append(number(endpoint.weight()));
        if (limits != null) {
            out.append(", max_connections ").append(limits.maxConnections())
                    .append(", max_keepalive_connections ").append(limits.maxKeepaliveConnections())
                    .append(", keepalive_expiry ").append(seconds(limits.keepaliveExpiry()));
        }
        if (timeouts != null) {
            out.append(", timeouts connect ").append(seconds(timeouts.connect()))
                    .append(" read ").append(seconds(timeouts.read()))
                    .append(" write ").append(seconds(timeouts.write()))
                    .append(" pool ").append(seconds(timeouts.pool()));
        }
        if (endpoint.http2()) {
            out.append(", http2");
        }
        out.append('\n');
        for (VirtualDeploymentConfig virtualDeployment : endpoint.virtualDeployments()) {
            out.append("      virtual deployment ").append(virtualDeployment.name()).append(":\n");
            for (StandinConfig standin : virtualDeployment.standins()) {
                out.append("        - stand-in ").append(standin.name())
                        .append(": non_streaming_fraction ").append(number(standin.nonStreamingFraction()))
                        .append(", priority ").append(standin.priority())
                        .append(", weight ").append(number(standin.weight())).append('\n');
            }
        }
    }

    private static String deployments(List<String> deploymentsAllowed) {
        if (deploymentsAllowed == null) {
            return "(not set)";
        }
        return deploymentsAllowed.isEmpty() ? "(none)" : String.join(", ", deploymentsAllowed);
    }

    private static String settings(Map<String, Object> settings) {
        StringJoiner joined = new StringJoiner(", ");
        settings.forEach((name, value) -> joined.add(name + " " + value(name, value)));
        return joined.toString();
    }

    @SuppressWarnings("unchecked")
    private static String value(String name, Object value) {
        if (ConfigLoader.isSecretName(name)) {
            return value instanceof String || value instanceof Number ? Secrets.mask(String.valueOf(value)) : "****";
        }
        if (value instanceof Map<?, ?> map) {
            return "{" + settings((Map<String, Object>) map) + "}";
        }
        if (value instanceof List<?> list) {
            StringJoiner joined = new StringJoiner(", ", "[", "]");
            list.forEach(item -> joined.add(value(name, item)));
            return joined.toString();
        }
        return String.valueOf(value);
    }

    private static String number(double value) {
        return BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
    }

    private static String seconds(Duration duration) {
        return BigDecimal.valueOf(duration.toMillis(), 3).stripTrailingZeros().toPlainString() + "s";
    }
}
