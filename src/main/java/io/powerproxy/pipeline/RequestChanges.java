package io.powerproxy.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * A plugin's changes to the request before it goes upstream: fields of its JSON body, headers and query parameters.
 * Get it from {@link Exchange#changeRequest()} in {@link Plugin#onRequestReceived} or
 * {@link Plugin#onClientIdentified}.
 *
 * <p>Changes are collected while the request hooks run and applied once, after the last plugin's
 * {@code onClientIdentified}: plugins in these hooks see the request as the client sent it, and from then on
 * {@link Exchange} shows the changed request, which is what goes upstream and what the usage is counted from. A
 * change the proxy cannot allow (a header or body field the proxy owns, an invalid name or value) throws
 * {@link IllegalArgumentException} at once, naming what to fix. To refuse a request, throw {@link ProxyException}.
 */
public final class RequestChanges {

    /**
     * Headers the proxy sets itself: the credentials (replaced by the endpoint's), the framing and hop-by-hop ones,
     * {@code accept-encoding} (the proxy asks for uncompressed answers to read their usage), and the W3C trace context
     * (the request's trace id is in the access log and the usage record, so it is the one sent upstream).
     */
    private static final Set<String> OWNED_HEADERS = Set.of("api-key", "authorization", "accept-encoding", "host",
            "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect",
            "http2-settings", "proxy-connection", "proxy-authenticate", "proxy-authorization", "traceparent",
            "tracestate");
    /** Body fields the proxy routes and counts by: the deployment ({@code model}) and the streaming flag. */
    private static final Set<String> OWNED_FIELDS = Set.of("model", "stream");

    private final ExchangeState state;
    private ObjectNode body;
    private TreeMap<String, List<String>> headers;
    private List<String> queryPairs;

    RequestChanges(ExchangeState state) {
        this.state = state;
    }

    /** Sets a top-level field of the JSON body, e.g. {@code setBodyField("max_tokens", 1000)}. */
    public RequestChanges setBodyField(String name, long value) {
        body(name).put(name, value);
        return this;
    }

    /** Sets a top-level field of the JSON body to a string. */
    public RequestChanges setBodyField(String name, String value) {
        body(name).put(name, Objects.requireNonNull(value, "value"));
        return this;
    }

    /** Sets a top-level field of the JSON body to true or false. */
    public RequestChanges setBodyField(String name, boolean value) {
        body(name).put(name, value);
        return this;
    }

    /**
     * Sets a top-level field of the JSON body to a copy of a JSON value (an object, array, number...). To change a
     * nested value, copy the field from {@link Exchange#requestJson()}, change the copy and set it here.
     */
    public RequestChanges setBodyField(String name, JsonNode value) {
        body(name).set(name, Objects.requireNonNull(value, "value").deepCopy());
        return this;
    }

    /** Removes a top-level field of the JSON body; nothing happens when it is not there. */
    public RequestChanges removeBodyField(String name) {
        body(name).remove(name);
        return this;
    }

    /** Sets a request header, replacing every value it had. */
    public RequestChanges setHeader(String name, String value) {
        headers(name).put(name, List.of(checkedValue(name, value)));
        return this;
    }

    /** Adds a value to a request header, after the values it has. */
    public RequestChanges addHeader(String name, String value) {
        List<String> values = new ArrayList<>(headers(name).getOrDefault(name, List.of()));
        values.add(checkedValue(name, value));
        headers.put(name, List.copyOf(values));
        return this;
    }

    /** Removes a request header; nothing happens when it is not there. */
    public RequestChanges removeHeader(String name) {
        headers(name).remove(name);
        return this;
    }

    /** Sets a query parameter (value as plain text; the proxy encodes it), replacing every value it had. */
    public RequestChanges setQueryParameter(String name, String value) {
        removeQueryParameter(name);
        queryPairs.add(encode(name) + "=" + encode(Objects.requireNonNull(value, "value")));
        return this;
    }

    /** Removes a query parameter, every value of it; nothing happens when it is not there. */
    public RequestChanges removeQueryParameter(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a query parameter needs a name");
        }
        if (queryPairs == null) {
            queryPairs = new ArrayList<>();
            if (state.query() != null && !state.query().isEmpty()) {
                queryPairs.addAll(List.of(state.query().split("&")));
            }
        }
        queryPairs.removeIf(pair -> name.equals(decodedName(pair)));
        return this;
    }

    private ObjectNode body(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a body field needs a name");
        }
        if (OWNED_FIELDS.contains(name)) {
            throw new IllegalArgumentException("the body field '" + name + "' cannot be changed by a plugin: the proxy"
                    + " chooses the deployment and counts the usage by it");
        }
        if (body == null) {
            if (!state.requestBodyRead()) {
                throw new IllegalStateException("the body is read after onRequestReceived: change its fields in"
                        + " onClientIdentified");
            }
            JsonNode json = state.requestJson();
            if (json == null) {
                throw new IllegalStateException("the request body is not a JSON object (check that"
                        + " exchange.requestJson() is not null before changing its fields)");
            }
            body = ((ObjectNode) json).deepCopy();
        }
        return body;
    }

    private TreeMap<String, List<String>> headers(String name) {
        if (name == null || name.isEmpty() || !name.chars().allMatch(RequestChanges::isTokenChar)) {
            throw new IllegalArgumentException("not a header name: '" + name + "'");
        }
        if (OWNED_HEADERS.contains(name.toLowerCase(Locale.ROOT)) || name.toLowerCase(Locale.ROOT).startsWith("proxy-")) {
            throw new IllegalArgumentException("the header '" + name + "' cannot be changed by a plugin: the proxy sets"
                    + " it itself");
        }
        if (headers == null) {
            headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            headers.putAll(state.requestHeaders());
        }
        return headers;
    }

    private static String checkedValue(String name, String value) {
        Objects.requireNonNull(value, "value");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if ((c < 0x20 && c != '\t') || c == 0x7f || c > 0xff) {
                throw new IllegalArgumentException("the value for header '" + name + "' has a character that HTTP"
                        + " headers cannot carry, at index " + i);
            }
        }
        return value;
    }

    private static boolean isTokenChar(int c) {
        return c > 0x20 && c < 0x7f && "\"(),/:;<=>?@[\\]{}".indexOf(c) < 0;
    }

    private static String encode(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String decodedName(String pair) {
        int eq = pair.indexOf('=');
        String raw = eq < 0 ? pair : pair.substring(0, eq);
        try {
            return URLDecoder.decode(raw, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return raw;
        }
    }

    /** The changed body, or null when no body field was changed. */
    JsonNode body() {
        return body;
    }

    /** The changed headers, read-only, or null when no header was changed. */
    Map<String, List<String>> headers() {
        return headers == null ? null : readOnly(headers);
    }

    boolean queryChanged() {
        return queryPairs != null;
    }

    /** The changed query, or null when no parameter is left. */
    String query() {
        return queryPairs.isEmpty() ? null : String.join("&", queryPairs);
    }

    /** A read-only, case-insensitive copy of request headers. */
    static Map<String, List<String>> readOnly(Map<String, List<String>> headers) {
        TreeMap<String, List<String>> copy = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.forEach((name, values) -> copy.put(name, List.copyOf(values)));
        return Collections.unmodifiableMap(copy);
    }
}
