package io.powerproxy.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.json.Json;
import java.io.IOException;
import java.time.Instant;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything that belongs to one request, from arrival to the last byte: the one place for per-request state.
 *
 * <p>The core fills the typed fields as the request goes on (client, deployment, target, status); plugins read
 * them. A plugin that needs private per-request data declares a {@link Key} and uses {@link #put} and
 * {@link #get}. An exchange is used by one request's thread at a time and is not shared between requests.
 */
public final class Exchange {

    private static final ObjectMapper JSON = Json.MAPPER;

    /** A typed key for a plugin's private per-request data; compare by identity, so keep one static instance. */
    public static final class Key<T> {
        private final String name;

        private Key(String name) {
            this.name = name;
        }

        /** Creates a key; the name is only for debugging. */
        public static <T> Key<T> of(String name) {
            return new Key<>(Objects.requireNonNull(name, "name"));
        }

        @Override
        public String toString() {
            return "Key[" + name + "]";
        }
    }

    private final String requestId;
    private final Instant receivedAt;
    private final long receivedNanos;
    private final String method;
    private final String path;
    private final String query;
    private final Map<String, List<String>> requestHeaders;

    private byte[] requestBody = new byte[0];
    private JsonNode requestJson;
    private boolean requestJsonParsed;
    private ClientConfig client;
    private String deployment;
    private boolean streaming;
    private String endpointName;
    private String standinDeployment;
    private int status;
    private Map<String, List<String>> responseHeaders = Map.of();
    private Map<Key<?>, Object> attributes;

    /**
     * Creates the exchange for a request that just arrived.
     *
     * @param requestHeaders the request's headers; lookups by name must be case-insensitive
     */
    public Exchange(String requestId, Instant receivedAt, long receivedNanos, String method, String path, String query,
            Map<String, List<String>> requestHeaders) {
        this.requestId = requestId;
        this.receivedAt = receivedAt;
        this.receivedNanos = receivedNanos;
        this.method = method;
        this.path = path;
        this.query = query;
        this.requestHeaders = requestHeaders;
    }

    /** A short id that names this request in logs, usage records and the {@code x-powerproxy-request-id} response header. */
    public String requestId() {
        return requestId;
    }

    /** When the request arrived (wall clock, UTC). */
    public Instant receivedAt() {
        return receivedAt;
    }

    /** {@link System#nanoTime()} when the request arrived, for durations. */
    public long receivedNanos() {
        return receivedNanos;
    }

    /** The HTTP method, upper case. */
    public String method() {
        return method;
    }

    /** The raw (still percent-encoded) request path as the client sent it. */
    public String path() {
        return path;
    }

    /** The raw query string without {@code ?}, or null. */
    public String query() {
        return query;
    }

    /** The request's headers as the client sent them; names are matched case-insensitively. */
    public Map<String, List<String>> requestHeaders() {
        return requestHeaders;
    }

    /** The first value of a request header, or null. */
    public String requestHeader(String name) {
        List<String> values = requestHeaders.get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** The request body as received; empty when there is none. Must not be changed. */
    public byte[] requestBody() {
        return requestBody;
    }

    /** Set by the core once the body has been read. */
    public void requestBody(byte[] body) {
        this.requestBody = Objects.requireNonNull(body, "body");
        this.requestJson = null;
        this.requestJsonParsed = false;
    }

    /**
     * The request body parsed as a JSON object, parsed at most once; null when the body is not a JSON object.
     * The returned tree is shared: treat it as read-only.
     */
    public JsonNode requestJson() {
        if (!requestJsonParsed) {
            requestJsonParsed = true;
            requestJson = parseObject(requestBody);
        }
        return requestJson;
    }

    private static JsonNode parseObject(byte[] body) {
        int i = 0;
        while (i < body.length && Character.isWhitespace(body[i])) {
            i++;
        }
        if (i == body.length || body[i] != '{') {
            return null;
        }
        try {
            JsonNode node = JSON.readTree(body);
            return node != null && node.isObject() ? node : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The client that sent the request; null until it was identified. */
    public ClientConfig client() {
        return client;
    }

    public void client(ClientConfig client) {
        this.client = client;
    }

    /** The deployment the client asked for (a virtual deployment name when such are configured), or null. */
    public String deployment() {
        return deployment;
    }

    public void deployment(String deployment) {
        this.deployment = deployment;
    }

    /** Whether the client asked for a streamed answer ({@code "stream": true} in its JSON body). */
    public boolean streaming() {
        return streaming;
    }

    public void streaming(boolean streaming) {
        this.streaming = streaming;
    }

    /** The name of the endpoint that serves the request, or null before one was chosen. */
    public String endpointName() {
        return endpointName;
    }

    /** The real deployment (stand-in) that serves the request, or null when the endpoint took it as asked. */
    public String standinDeployment() {
        return standinDeployment;
    }

    /** Set by the core for each attempt at a target. */
    public void target(String endpointName, String standinDeployment) {
        this.endpointName = endpointName;
        this.standinDeployment = standinDeployment;
    }

    /** The status sent (or being sent) to the client; 0 before there is one, 499 when the client went away. */
    public int status() {
        return status;
    }

    public void status(int status) {
        this.status = status;
    }

    /** The upstream response's headers (names lower case); empty before the upstream answered. */
    public Map<String, List<String>> responseHeaders() {
        return responseHeaders;
    }

    public void responseHeaders(Map<String, List<String>> headers) {
        this.responseHeaders = Objects.requireNonNull(headers, "headers");
    }

    /** The first value of an upstream response header (name in lower case), or null. */
    public String responseHeader(String lowerCaseName) {
        List<String> values = responseHeaders.get(lowerCaseName);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** A plugin's private per-request value, or null. */
    @SuppressWarnings("unchecked")
    public <T> T get(Key<T> key) {
        return attributes == null ? null : (T) attributes.get(key);
    }

    /** Stores a plugin's private per-request value. */
    public <T> void put(Key<T> key, T value) {
        if (attributes == null) {
            attributes = new IdentityHashMap<>(4);
        }
        attributes.put(key, value);
    }
}
