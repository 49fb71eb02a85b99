package io.powerproxy.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.streaming.SseEvent;
import io.powerproxy.usage.Counts;
import io.powerproxy.usage.JsonUsageScanner;
import io.powerproxy.usage.ResponseUsage;
import io.powerproxy.usage.StreamUsage;
import io.powerproxy.usage.UsageRecord;
import io.powerproxy.usage.UsageRecord.Operation;

/**
 * The token accounting of one request (§6): whether to ask the upstream for exact streaming usage, which stream
 * events the client must not see, and the usage record at the end.
 *
 * <p>For streaming chat and completions calls the proxy adds {@code stream_options.include_usage} upstream, so
 * Azure reports exact counts in a last usage-only chunk; when the client did not ask for that chunk, it is
 * dropped from what the client receives. Older API versions reject {@code stream_options}, so it is added only
 * from {@link #FIRST_API_VERSION_WITH_STREAM_OPTIONS} and for the v1 API; otherwise the counts are estimated.
 */
final class UsageAccounting {

    /** The first Azure OpenAI API version that accepts {@code stream_options}. */
    static final String FIRST_API_VERSION_WITH_STREAM_OPTIONS = "2024-09-01";

    private final ExchangeState exchange;
    private final Operation operation;
    private final String apiVersion;
    private final boolean clientAskedForUsage;
    private final boolean askUpstreamForUsage;
    private StreamUsage stream;
    private Counts counts;
    private long upstreamStartedNanos;
    private long upstreamEndedNanos;
    private boolean answered;
    private boolean recorded;

    private UsageAccounting(ExchangeState exchange, Operation operation, String apiVersion, boolean clientAskedForUsage,
            boolean askUpstreamForUsage) {
        this.exchange = exchange;
        this.operation = operation;
        this.apiVersion = apiVersion;
        this.clientAskedForUsage = clientAskedForUsage;
        this.askUpstreamForUsage = askUpstreamForUsage;
    }

    /** Starts the accounting once the request's body, deployment and streaming flag are known. */
    static UsageAccounting start(ExchangeState exchange, RequestPath path) {
        Operation operation = Operation.ofPath(path.rawPath());
        String apiVersion = queryParameter(exchange.query(), "api-version");
        JsonNode json = exchange.requestJson();
        boolean clientAsked = json != null && json.path("stream_options").path("include_usage").asBoolean(false);
        boolean supported = path.v1() || (apiVersion != null && apiVersion.compareTo(FIRST_API_VERSION_WITH_STREAM_OPTIONS) >= 0);
        boolean ask = exchange.streaming() && !clientAsked && supported
                && (operation == Operation.CHAT || operation == Operation.COMPLETIONS);
        return new UsageAccounting(exchange, operation, apiVersion, clientAsked, ask);
    }

    /** Whether the request body sent upstream must get {@code stream_options.include_usage: true}. */
    boolean askUpstreamForUsage() {
        return askUpstreamForUsage;
    }

    /** Whether the client asked for the usage chunk itself. */
    boolean clientAskedForUsage() {
        return clientAskedForUsage;
    }

    /** An attempt at an upstream starts now; the round trip is timed from the last one. */
    void attemptStarted() {
        upstreamStartedNanos = System.nanoTime();
    }

    /** An upstream's (or the mock's) answer is being passed on: the request gets a usage record. */
    void answered() {
        answered = true;
        if (upstreamStartedNanos == 0) {
            upstreamStartedNanos = System.nanoTime();
        }
    }

    /** Counts one stream event; returns false for the usage-only chunk the client did not ask for. */
    boolean forward(SseEvent event) {
        if (stream == null) {
            stream = new StreamUsage();
        }
        StreamUsage.Event kind = stream.onData(event.data());
        return kind != StreamUsage.Event.USAGE_ONLY || clientAskedForUsage || !askUpstreamForUsage;
    }

    /** The whole body of a non-streaming answer. */
    void body(byte[] body) {
        counts = ResponseUsage.of(body, exchange.requestJson(), operation, null);
    }

    /** The counts of a JSON answer too large to hold, from its top-level fields as they passed through. */
    void scanned(JsonUsageScanner scanner) {
        counts = scanner.counts(exchange.requestJson(), operation, null);
    }

    /** The upstream's answer has been read to its end, or broke off; the first call counts. */
    void ended() {
        if (upstreamEndedNanos == 0) {
            upstreamEndedNanos = System.nanoTime();
        }
    }

    /**
     * The usage record, made once: null when no upstream answer was passed on (nothing was used), and on every call
     * after the first, so that a record made before the answer's last byte is not made again when the request ends.
     */
    UsageRecord takeRecord() {
        if (!answered || recorded) {
            return null;
        }
        recorded = true;
        ended();
        Counts finalCounts = counts;
        if (finalCounts == null) {
            finalCounts = stream != null ? stream.finish(exchange.requestJson(), null) : ResponseUsage.none(null);
        }
        long end = upstreamEndedNanos;
        return new UsageRecord(exchange.receivedAt(), exchange.client().name(), exchange.streaming(),
                finalCounts.promptTokens(), finalCounts.completionTokens(), finalCounts.totalTokens(),
                (end - upstreamStartedNanos) / 1_000_000.0, exchange.responseHeader("x-ms-region"),
                exchange.endpointName(), exchange.deployment(), exchange.standinDeployment(), apiVersion,
                exchange.status(), operation, finalCounts.model(), finalCounts.source(), exchange.requestId());
    }

    private static String queryParameter(String rawQuery, String name) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                return java.net.URLDecoder.decode(pair.substring(eq + 1), java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        return null;
    }
}
