package io.powerproxy.tracing;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceState;

/**
 * The span the OpenTelemetry Java agent started for the request being handled, read through the OpenTelemetry API,
 * which the agent bridges to its own. Without the agent the API has no span, and the proxy keeps its own trace
 * context.
 */
final class AgentSpan {

    private AgentSpan() {
    }

    /**
     * The agent's trace context of the current request, or null when there is no agent (or it traces nothing here).
     *
     * @param clientTraceId the trace id of the client's valid traceparent, or null
     * @param clientTracestate the client's tracestate, passed on when the agent continued the client's trace
     */
    static TraceContext current(String clientTraceId, String clientTracestate) {
        SpanContext span = Span.current().getSpanContext();
        if (!span.isValid()) {
            return null;
        }
        String traceId = span.getTraceId();
        String tracestate = tracestate(span.getTraceState());
        if (tracestate == null && traceId.equals(clientTraceId)) {
            tracestate = clientTracestate;
        }
        return new TraceContext(traceId, TraceParent.of(traceId, span.getSpanId(), span.getTraceFlags().asByte()),
                tracestate, TraceContext.Origin.AGENT);
    }

    private static String tracestate(TraceState state) {
        if (state.isEmpty()) {
            return null;
        }
        StringBuilder out = new StringBuilder();
        state.forEach((key, value) -> {
            if (!out.isEmpty()) {
                out.append(',');
            }
            out.append(key).append('=').append(value);
        });
        return out.toString();
    }
}
