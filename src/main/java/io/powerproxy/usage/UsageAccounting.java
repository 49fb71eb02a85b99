package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.usage.UsageRecord.Operation;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * The token accounting of one request, which makes its usage record: whether to ask the upstream for exact
 * streaming usage, which stream events the client must not see, and the record at the end.
 *
 * <p>For streaming chat and completions calls the proxy adds {@code stream_options.include_usage} upstream, so
 * Azure reports exact counts in a last usage-only chunk; when the client did not ask for that chunk, it is
 * dropped from what the client receives. Older API versions reject {@code stream_options}, so it is added only
 * from {@link #FIRST_API_VERSION_WITH_STREAM_OPTIONS} and for the v1 API; otherwise the counts are estimated.
 *
 * <p>Used by one request's thread at a time.
 */
public final class UsageAccounting {

    /** The first Azure OpenAI API version that accepts {@code stream_options}. */
    static final String FIRST_API_VERSION_WITH_STREAM_OPTIONS = "2024-09-01";

    /**
     * What the usage record needs to know of the request besides its tokens and timings.
     *
     * @param receivedAt when the request arrived
     * @param client the client's configured name
     * @param deployment the deployment the client asked for, or null
     * @param endpoint the endpoint that served it
     * @param standin the stand-in deployment that served it, or null
     * @param region the upstream's {@code x-ms-region} header, or null
     * @param status the status the client got
     * @param requestId the proxy's id of the request
     * @param traceId the request's W3C trace id
     */
    public record Served(Instant receivedAt, String client, String deployment, String endpoint, String standin,
            String region, int status, String requestId, String traceId) {
    }

    private final JsonNode requestJson;
    private final boolean streaming;
    private final Operation operation;
    private final String apiVersion;
    private final boolean clientAskedForUsage;
    private final boolean askUpstreamForUsage;
    private StreamUsage stream;
    private Counts counts;
    private long upstreamStartedNanos;
    private long upstreamEndedNanos;
    private long answeredNanos;
    private boolean answered;
    private boolean recorded;

    private UsageAccounting(JsonNode requestJson, boolean streaming, Operation operation, String apiVersion,
            boolean clientAskedForUsage, boolean askUpstreamForUsage) {
        this.requestJson = requestJson;
        this.streaming = streaming;
        this.operation = operation;
        this.apiVersion = apiVersion;
        this.clientAskedForUsage = clientAskedForUsage;
        this.askUpstreamForUsage = askUpstreamForUsage;
    }

    /**
     * Starts the accounting once the request's body and streaming flag are known.
     *
     * @param rawPath the request's path, which tells the operation
     * @param rawQuery the request's query, which holds the {@code api-version}; may be null
     * @param v1 whether the request is a call of the v1 API, which always accepts {@code stream_options}
     * @param requestJson the request body as a JSON object, or null
     */
    public static UsageAccounting start(String rawPath, String rawQuery, boolean v1, JsonNode requestJson,
            boolean streaming) {
        Operation operation = Operation.ofPath(rawPath);
        String apiVersion = queryParameter(rawQuery, "api-version");
        boolean clientAsked = requestJson != null
                && requestJson.path("stream_options").path("include_usage").asBoolean(false);
        boolean supported = v1 || (apiVersion != null && apiVersion.compareTo(FIRST_API_VERSION_WITH_STREAM_OPTIONS) >= 0);
        boolean ask = streaming && !clientAsked && supported
                && (operation == Operation.CHAT || operation == Operation.COMPLETIONS);
        return new UsageAccounting(requestJson, streaming, operation, apiVersion, clientAsked, ask);
    }

    /** Whether the request body sent upstream must get {@code stream_options.include_usage: true}. */
    public boolean askUpstreamForUsage() {
        return askUpstreamForUsage;
    }

    /** Whether the client asked for the usage chunk itself. */
    public boolean clientAskedForUsage() {
        return clientAskedForUsage;
    }

    /** An attempt at an upstream starts now; the round trip is timed from the last one. */
    public void attemptStarted() {
        upstreamStartedNanos = System.nanoTime();
    }

    /** An upstream's (or the mock's) answer is being passed on: the request gets a usage record. */
    public void answered() {
        answered = true;
        answeredNanos = System.nanoTime();
        if (upstreamStartedNanos == 0) {
            upstreamStartedNanos = answeredNanos;
        }
    }

    /** Nanoseconds from sending the last attempt to its answer's headers; 0 before an answer. */
    public long firstByteNanos() {
        return answered ? answeredNanos - upstreamStartedNanos : 0;
    }

    /** Nanoseconds from sending the last attempt to its answer's end (or now, while it is still read). */
    public long upstreamNanos() {
        return (upstreamEndedNanos == 0 ? System.nanoTime() : upstreamEndedNanos) - upstreamStartedNanos;
    }

    /** Counts one stream event's data; returns false for the usage-only chunk the client did not ask for. */
    public boolean forward(String eventData) {
        if (stream == null) {
            stream = new StreamUsage();
        }
        StreamUsage.Event kind = stream.onData(eventData);
        return kind != StreamUsage.Event.USAGE_ONLY || clientAskedForUsage || !askUpstreamForUsage;
    }

    /** The whole body of a non-streaming answer. */
    public void body(byte[] body) {
        counts = ResponseUsage.of(body, requestJson, operation, null);
    }

    /** The counts of a JSON answer too large to hold, from its top-level fields as they passed through. */
    public void scanned(JsonUsageScanner scanner) {
        counts = scanner.counts(requestJson, operation, null);
    }

    /** The upstream's answer has been read to its end, or broke off; the first call counts. */
    public void ended() {
        if (upstreamEndedNanos == 0) {
            upstreamEndedNanos = System.nanoTime();
        }
    }

    /**
     * The usage record, made once: null when no upstream answer was passed on (nothing was used), and on every call
     * after the first, so that a record made before the answer's last byte is not made again when the request ends.
     */
    public UsageRecord takeRecord(Served served) {
        if (!answered || recorded) {
            return null;
        }
        recorded = true;
        ended();
        Counts finalCounts = counts;
        if (finalCounts == null) {
            finalCounts = stream != null ? stream.finish(requestJson, null) : ResponseUsage.none(null);
        }
        return new UsageRecord(served.receivedAt(), served.client(), streaming,
                finalCounts.promptTokens(), finalCounts.completionTokens(), finalCounts.totalTokens(),
                (upstreamEndedNanos - upstreamStartedNanos) / 1_000_000.0, served.region(), served.endpoint(),
                served.deployment(), served.standin(), apiVersion, served.status(), operation, finalCounts.model(),
                finalCounts.source(), served.requestId(), served.traceId());
    }

    private static String queryParameter(String rawQuery, String name) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                return URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }
}
