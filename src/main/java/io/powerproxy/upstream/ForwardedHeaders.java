package io.powerproxy.upstream;

import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which headers cross the proxy, in both directions: the one place for hop-by-hop and restricted headers.
 *
 * <p>Never forwarded, either way (RFC 9110 §7.6.1 and the JDK's restricted set): Connection, Keep-Alive,
 * Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, Host, Content-Length, Expect, and HTTP/2 pseudo-headers.
 * The sender of each hop sets its own framing headers.
 *
 * <p>Towards the upstream, also never: {@code api-key} and {@code Authorization} (the client's credentials are
 * replaced by the endpoint's, see README "2. Upstream authentication"), {@code Accept-Encoding} (the proxy
 * reads usage from the bodies, so it asks for them uncompressed), {@code traceparent} and {@code tracestate} (the
 * proxy sends the request's trace context itself, see {@link io.powerproxy.tracing.TraceContext}), and headers whose
 * lower-case name does not match
 * {@code aoai.forward_http_header_only_if_name_matches} at its start, as Python's {@code re.match} would.
 */
public final class ForwardedHeaders {

    private static final Set<String> HOP_BY_HOP = Set.of(
            "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
            "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect", "http2-settings");

    private static final Set<String> REPLACED_UPSTREAM = Set.of("api-key", "authorization", "accept-encoding",
            "traceparent", "tracestate");

    private final Pattern onlyIfNameMatches;

    private ForwardedHeaders(Pattern onlyIfNameMatches) {
        this.onlyIfNameMatches = onlyIfNameMatches;
    }

    /** The rules, with the configured name filter or null for none. */
    public static ForwardedHeaders create(Pattern onlyIfNameMatches) {
        return new ForwardedHeaders(onlyIfNameMatches);
    }

    /** Whether a client's request header goes to the upstream. */
    boolean toUpstream(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (isHopByHop(lower) || REPLACED_UPSTREAM.contains(lower)) {
            return false;
        }
        return onlyIfNameMatches == null || onlyIfNameMatches.matcher(lower).lookingAt();
    }

    /** Whether an upstream response header goes back to the client. */
    public boolean toClient(String name) {
        return !isHopByHop(name.toLowerCase(Locale.ROOT));
    }

    /** Whether a lower-case header name is hop-by-hop (never forwarded in either direction). */
    static boolean isHopByHop(String lowerCaseName) {
        return HOP_BY_HOP.contains(lowerCaseName) || lowerCaseName.startsWith("proxy-") || lowerCaseName.startsWith(":");
    }

    /**
     * Also drops the headers named by the request's own {@code Connection} header, which are hop-by-hop for that
     * message (RFC 9110 §7.6.1).
     */
    static boolean namedByConnection(String lowerCaseName, List<String> connectionValues) {
        if (connectionValues == null) {
            return false;
        }
        for (String value : connectionValues) {
            for (String token : value.split(",")) {
                if (token.trim().equalsIgnoreCase(lowerCaseName)) {
                    return true;
                }
            }
        }
        return false;
    }
}
