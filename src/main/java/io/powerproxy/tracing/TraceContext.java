package io.powerproxy.tracing;

import io.powerproxy.logging.Printable;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The W3C trace context of one request: the trace id the proxy logs and records, and the {@code traceparent} and
 * {@code tracestate} it sends upstream.
 *
 * <p>Where it comes from, first match wins: the OpenTelemetry Java agent's span for the request, when the proxy runs
 * under the agent; the client's {@code traceparent}, when it is valid (forwarded as sent, with its
 * {@code tracestate}); else a new random one, so that every request has a trace id that the proxy's records and the
 * upstream's logs share. An invalid {@code traceparent} is not trusted: it is replaced, and logged escaped and cut
 * short.
 *
 * @param traceId 32 lower-case hex characters
 * @param traceparent the version-00 value to send upstream
 * @param tracestate the value to send upstream, or null for none
 * @param origin where the trace id comes from
 */
public record TraceContext(String traceId, String traceparent, String tracestate, Origin origin) {

    /** The W3C names of the headers, lower case as the OpenTelemetry propagators write them. */
    public static final String TRACEPARENT = "traceparent";
    public static final String TRACESTATE = "tracestate";

    /** The longest {@code tracestate} forwarded: the W3C asks every hop to pass on at least 512 characters. */
    static final int MAX_TRACESTATE = 512;
    /** How much of an invalid {@code traceparent} the warning quotes. */
    private static final int QUOTED = 64;

    private static final Logger LOG = LoggerFactory.getLogger(TraceContext.class);

    /** Where a request's trace id comes from. */
    public enum Origin {
        /** The OpenTelemetry Java agent's span for the request. */
        AGENT,
        /** The client's own valid {@code traceparent}. */
        CLIENT,
        /** Made by the proxy: the client sent none, or none it could trust. */
        PROXY
    }

    /**
     * The trace context of a request, from its {@code traceparent} and {@code tracestate} header values (null when
     * absent).
     */
    public static TraceContext of(String requestId, List<String> traceparents, List<String> tracestates) {
        String sent = traceparents == null || traceparents.size() != 1 ? null : traceparents.get(0);
        boolean valid = TraceParent.isValid(sent);
        if (!valid && traceparents != null) {
            warnInvalid(requestId, traceparents);
        }
        String clientTracestate = valid ? tracestate(tracestates) : null;
        TraceContext agent = AgentSpan.current(valid ? TraceParent.traceId(sent) : null, clientTracestate);
        if (agent != null) {
            return agent;
        }
        if (valid) {
            return new TraceContext(TraceParent.traceId(sent), TraceParent.asVersion00(sent), clientTracestate,
                    Origin.CLIENT);
        }
        String made = TraceParent.random();
        return new TraceContext(TraceParent.traceId(made), made, null, Origin.PROXY);
    }

    /**
     * The client's {@code tracestate} to pass on with its valid {@code traceparent}: its header lines joined by commas
     * as the W3C allows, or null when there is none, when it is longer than {@value #MAX_TRACESTATE} characters, or
     * when it holds a character a tracestate cannot (only printable ASCII, spaces and tabs).
     */
    static String tracestate(List<String> values) {
        if (values == null || values.isEmpty()) {
            return null;
        }
        String joined = values.size() == 1 ? values.get(0) : String.join(",", values);
        if (joined.isEmpty() || joined.length() > MAX_TRACESTATE) {
            return null;
        }
        for (int i = 0; i < joined.length(); i++) {
            char c = joined.charAt(i);
            if ((c < 0x20 && c != '\t') || c > 0x7e) {
                return null;
            }
        }
        return joined;
    }

    private static void warnInvalid(String requestId, List<String> traceparents) {
        if (traceparents.size() != 1) {
            LOG.warn("request {}: {} traceparent headers, where the W3C allows one; a new trace is started",
                    requestId, traceparents.size());
            return;
        }
        String sent = traceparents.get(0);
        String quoted = sent.length() <= QUOTED ? sent : sent.substring(0, QUOTED) + "...";
        LOG.warn("request {}: its traceparent is not a valid W3C traceparent ({} characters: '{}'); a new trace is"
                + " started", requestId, sent.length(), Printable.of(quoted));
    }
}
