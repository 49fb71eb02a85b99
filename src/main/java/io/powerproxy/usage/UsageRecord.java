package io.powerproxy.usage;

import io.powerproxy.logging.Printable;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * What one request that reached an upstream used (README "Usage records and token counting"): the billing record every usage sink writes.
 *
 * <p>The first twelve fields are the Python original's columns, in its order; the rest are new.
 *
 * <p>Its text fields hold no control character: whatever a client or an upstream put into them is escaped by
 * {@link Printable} ({@code \r}, {@code \n}, <code>&#92;u0007</code>) when the record is made, so no sink can write a
 * line break that a line-based reader takes for a second row.
 *
 * @param requestReceivedUtc when the proxy received the request
 * @param client the client's configured name
 * @param isStreaming whether the client asked for a streamed answer
 * @param promptTokens prompt (input) tokens
 * @param completionTokens completion (output) tokens
 * @param totalTokens total tokens
 * @param aoaiRoundtripTimeMs milliseconds from sending the request upstream to the end of its answer
 * @param aoaiRegion the upstream's {@code x-ms-region} header, or null
 * @param aoaiEndpoint the name of the endpoint that served the request
 * @param aoaiVirtualDeployment the deployment the client asked for, or null when it named none
 * @param aoaiStandinDeployment the real deployment that served it, or null when the endpoint took the name as asked
 * @param aoaiApiVersion the request's {@code api-version} query parameter, or null
 * @param statusCode the status the client got; 499 when it went away before the end
 * @param operation what kind of call it was
 * @param model the model as the upstream reported it, or null
 * @param usageSource whether the counts were reported by the upstream or estimated by the proxy
 * @param requestId the proxy's id of the request
 * @param traceId the request's W3C trace id (32 hex characters), or null when unknown
 */
public record UsageRecord(
        Instant requestReceivedUtc,
        String client,
        boolean isStreaming,
        long promptTokens,
        long completionTokens,
        long totalTokens,
        double aoaiRoundtripTimeMs,
        String aoaiRegion,
        String aoaiEndpoint,
        String aoaiVirtualDeployment,
        String aoaiStandinDeployment,
        String aoaiApiVersion,
        int statusCode,
        Operation operation,
        String model,
        UsageSource usageSource,
        String requestId,
        String traceId) {

    /** The column names, in the order of the components: the original's first, then the new ones. */
    public static final List<String> COLUMNS = List.of(
            "request_received_utc", "client", "is_streaming", "prompt_tokens", "completion_tokens", "total_tokens",
            "aoai_roundtrip_time_ms", "aoai_region", "aoai_endpoint", "aoai_virtual_deployment",
            "aoai_standin_deployment", "aoai_api_version",
            "status_code", "operation", "model", "usage_source", "request_id", "trace_id");

    public UsageRecord {
        Objects.requireNonNull(requestReceivedUtc, "requestReceivedUtc");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(operation, "operation");
        Objects.requireNonNull(usageSource, "usageSource");
        Objects.requireNonNull(requestId, "requestId");
        client = Printable.of(client);
        aoaiRegion = Printable.of(aoaiRegion);
        aoaiEndpoint = Printable.of(aoaiEndpoint);
        aoaiVirtualDeployment = Printable.of(aoaiVirtualDeployment);
        aoaiStandinDeployment = Printable.of(aoaiStandinDeployment);
        aoaiApiVersion = Printable.of(aoaiApiVersion);
        model = Printable.of(model);
        requestId = Printable.of(requestId);
        traceId = Printable.of(traceId);
    }

    /** A record without a trace id, as made before records had one. */
    public UsageRecord(Instant requestReceivedUtc, String client, boolean isStreaming, long promptTokens,
            long completionTokens, long totalTokens, double aoaiRoundtripTimeMs, String aoaiRegion, String aoaiEndpoint,
            String aoaiVirtualDeployment, String aoaiStandinDeployment, String aoaiApiVersion, int statusCode,
            Operation operation, String model, UsageSource usageSource, String requestId) {
        this(requestReceivedUtc, client, isStreaming, promptTokens, completionTokens, totalTokens, aoaiRoundtripTimeMs,
                aoaiRegion, aoaiEndpoint, aoaiVirtualDeployment, aoaiStandinDeployment, aoaiApiVersion, statusCode,
                operation, model, usageSource, requestId, null);
    }

    /** The values in {@link #COLUMNS} order, as text (null stays null), for tabular sinks. */
    public List<String> values() {
        return java.util.Arrays.asList(
                requestReceivedUtc.toString(), client, Boolean.toString(isStreaming), Long.toString(promptTokens),
                Long.toString(completionTokens), Long.toString(totalTokens), Double.toString(aoaiRoundtripTimeMs),
                aoaiRegion, aoaiEndpoint, aoaiVirtualDeployment, aoaiStandinDeployment, aoaiApiVersion,
                Integer.toString(statusCode), operation.label(), model, usageSource.label(), requestId, traceId);
    }

    /** Where the token counts come from. */
    public enum UsageSource {
        /** The upstream's {@code usage} object (in the body or the stream's usage chunk). */
        REPORTED("reported"),
        /** Counted by the proxy with jtokkit, because the upstream reported none. */
        ESTIMATED("estimated");

        private final String label;

        UsageSource(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** The kind of API call, from the request path. */
    public enum Operation {
        CHAT("chat"), COMPLETIONS("completions"), EMBEDDINGS("embeddings"), IMAGES("images"), AUDIO("audio"),
        OTHER("other");

        private final String label;

        Operation(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }

        /** The operation of a request path: {@code .../chat/completions} is chat, {@code .../audio/...} audio, etc. */
        public static Operation ofPath(String path) {
            if (path.endsWith("/chat/completions")) {
                return CHAT;
            }
            if (path.endsWith("/completions")) {
                return COMPLETIONS;
            }
            if (path.endsWith("/embeddings")) {
                return EMBEDDINGS;
            }
            if (path.contains("/images/")) {
                return IMAGES;
            }
            if (path.contains("/audio/")) {
                return AUDIO;
            }
            return OTHER;
        }
    }
}
