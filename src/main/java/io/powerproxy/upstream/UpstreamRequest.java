package io.powerproxy.upstream;

import io.powerproxy.tracing.TraceContext;
import java.util.List;
import java.util.Map;

/**
 * One request to send upstream, as the proxy will send it.
 *
 * @param method the HTTP method
 * @param rawPath the percent-encoded path, already rewritten for the target; starts with one {@code /}
 * @param rawQuery the percent-encoded query without {@code ?}, or null
 * @param clientHeaders the client's request headers, filtered by {@link ForwardedHeaders} on the way out
 * @param body the body to send, possibly empty
 * @param passThroughToken the client's own Entra ID token when it authenticated with one, else null
 * @param trace the W3C trace context to send ({@code traceparent}, {@code tracestate}), or null for none
 */
public record UpstreamRequest(
        String method,
        String rawPath,
        String rawQuery,
        Map<String, List<String>> clientHeaders,
        byte[] body,
        String passThroughToken,
        TraceContext trace) {
}
