package io.powerproxy.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.tracing.TraceContext;
import io.powerproxy.usage.TokenDemand;
import io.powerproxy.usage.UsageAccounting;
import io.powerproxy.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The core's writable record of one request: only the proxy's own code (server, upstream, usage) holds one and
 * records the client, deployment, target, status and streaming flag in it. Plugins see it through its read-only
 * {@link Exchange}, which {@link Pipeline} hands them; they never get this object.
 *
 * <p>Used by one request's thread at a time; never shared between requests.
 */
public final class ExchangeState {

    private final String requestId;
    private final Instant receivedAt;
    private final long receivedNanos;
    private final String method;
    private final String path;
    private final Exchange view;

    private String query;
    private Map<String, List<String>> requestHeaders;
    /** What plugins see of {@link #requestHeaders}: made when a plugin first asks, since most never do. */
    private Map<String, List<String>> readOnlyHeaders;
    private byte[] requestBody = new byte[0];
    private boolean requestBodyRead;
    private JsonNode requestJson;
    private boolean requestJsonParsed;
    private ClientConfig client;
    private String deployment;
    private boolean streaming;
    private String endpointName;
    private String standinDeployment;
    private int status;
    private Map<String, List<String>> responseHeaders = Map.of();
    private Map<Exchange.Key<?>, Object> attributes;
    /** The plugins' changes to the request while their request hooks run; null before and after. */
    private RequestChanges changes;
    private TokenDemand tokenDemand;
    private String rejectedBy;
    private TraceContext trace;
    private UsageAccounting accounting;
    private boolean endedTold;

    /**
     * Creates the record of a request that just arrived.
     *
     * @param query the raw query string without {@code ?}, or null
     * @param requestHeaders the request's headers; lookups by name must be case-insensitive. Plugins get a read-only
     *     copy; the core must not change them.
     */
    public ExchangeState(String requestId, Instant receivedAt, long receivedNanos, String method, String path,
            String query, Map<String, List<String>> requestHeaders) {
        this.requestId = requestId;
        this.receivedAt = receivedAt;
        this.receivedNanos = receivedNanos;
        this.method = method;
        this.path = path;
        this.query = query;
        this.requestHeaders = requestHeaders;
        this.view = new Exchange(this);
    }

    /** The read-only view that plugins get. */
    public Exchange view() {
        return view;
    }

    public String requestId() {
        return requestId;
    }

    /** The request's W3C trace context; null only before the core set it. */
    public TraceContext trace() {
        return trace;
    }

    /** Set once, when the request arrives. */
    public void trace(TraceContext trace) {
        this.trace = Objects.requireNonNull(trace, "trace");
    }

    public Instant receivedAt() {
        return receivedAt;
    }

    public long receivedNanos() {
        return receivedNanos;
    }

    public String method() {
        return method;
    }

    /** The raw (still percent-encoded) request path as the client sent it. */
    public String path() {
        return path;
    }

    /** The raw query to send upstream, without {@code ?}, or null: the client's, with the plugins' changes. */
    public String query() {
        return query;
    }

    /** The request headers to send upstream (before the forwarding rules): the client's, with the plugins' changes. */
    public Map<String, List<String>> requestHeaders() {
        return requestHeaders;
    }

    /** A read-only, case-insensitive copy of {@link #requestHeaders()}, made once. */
    Map<String, List<String>> readOnlyRequestHeaders() {
        if (readOnlyHeaders == null) {
            readOnlyHeaders = RequestChanges.readOnly(requestHeaders);
        }
        return readOnlyHeaders;
    }

    public String requestHeader(String name) {
        List<String> values = requestHeaders.get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** The request body to send upstream; empty when there is none. The core must not change the array. */
    public byte[] requestBody() {
        return requestBody;
    }

    /** Set once the body has been read. */
    public void requestBody(byte[] body) {
        this.requestBody = Objects.requireNonNull(body, "body");
        this.requestBodyRead = true;
        this.requestJson = null;
        this.requestJsonParsed = false;
        this.tokenDemand = null;
    }

    boolean requestBodyRead() {
        return requestBodyRead;
    }

    /**
     * The body parsed as a JSON object, parsed at most once; null when the body is not a JSON object. The tree is
     * the core's own: the core treats it as read-only, and plugins only ever get copies of it.
     */
    public JsonNode requestJson() {
        if (!requestJsonParsed) {
            requestJsonParsed = true;
            requestJson = parseObject(requestBody);
        }
        return requestJson;
    }

    /**
     * The request's likely cost in tokens (its prompt estimated, its completion bound), computed at most once per body:
     * for the body as it is when first asked, so ask after the plugins' changes were applied.
     */
    public TokenDemand tokenDemand() {
        if (tokenDemand == null) {
            tokenDemand = TokenDemand.of(requestJson(), deployment);
        }
        return tokenDemand;
    }

    private static byte[] serialize(JsonNode body) {
        try {
            return Json.MAPPER.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new UncheckedIOException("a JSON tree could not be written", e);
        }
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
            JsonNode node = Json.MAPPER.readTree(body);
            return node != null && node.isObject() ? node : null;
        } catch (IOException e) {
            return null;
        }
    }

    public ClientConfig client() {
        return client;
    }

    public void client(ClientConfig client) {
        this.client = client;
    }

    public String deployment() {
        return deployment;
    }

    public void deployment(String deployment) {
        this.deployment = deployment;
    }

    public boolean streaming() {
        return streaming;
    }

    public void streaming(boolean streaming) {
        this.streaming = streaming;
    }

    public String endpointName() {
        return endpointName;
    }

    public String standinDeployment() {
        return standinDeployment;
    }

    /** Set for each attempt at a target. */
    public void target(String endpointName, String standinDeployment) {
        this.endpointName = endpointName;
        this.standinDeployment = standinDeployment;
    }

    /** The name of the plugin that refused the request, or null. */
    public String rejectedBy() {
        return rejectedBy;
    }

    void rejectedBy(String plugin) {
        this.rejectedBy = plugin;
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

    /** Keeps a read-only view of the upstream's response headers (names lower case). */
    public void responseHeaders(Map<String, List<String>> headers) {
        this.responseHeaders = Collections.unmodifiableMap(Objects.requireNonNull(headers, "headers"));
    }

    public String responseHeader(String lowerCaseName) {
        List<String> values = responseHeaders.get(lowerCaseName);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** What counts the request's usage, from when it is known what goes upstream; null before and for rejections. */
    public UsageAccounting accounting() {
        return accounting;
    }

    public void accounting(UsageAccounting accounting) {
        this.accounting = accounting;
    }

    /** Notes that the plugins are told the request ended; true the first time only, so that they are told once. */
    public boolean endedFirstTime() {
        if (endedTold) {
            return false;
        }
        endedTold = true;
        return true;
    }

    /** Per-request data under a typed key: the core's own, or a plugin's. */
    @SuppressWarnings("unchecked")
    public <T> T get(Exchange.Key<T> key) {
        return attributes == null ? null : (T) attributes.get(key);
    }

    public <T> void put(Exchange.Key<T> key, T value) {
        if (attributes == null) {
            attributes = new IdentityHashMap<>(4);
        }
        attributes.put(key, value);
    }

    /** Opens the request to the plugins' changes (once): their request hooks run now. */
    void openForChanges() {
        if (changes == null) {
            changes = new RequestChanges(this);
        }
    }

    /** The changes of the running request hook, or null outside the request hooks. */
    RequestChanges changes() {
        return changes;
    }

    /**
     * Applies the plugins' changes, once, after their request hooks: from here on the body, headers and query are
     * what goes upstream, what is counted and what later hooks see. Closes the request to further changes.
     */
    void applyChanges() {
        RequestChanges pending = changes;
        changes = null;
        Map<String, List<String>> headers = pending.headers();
        if (headers != null) {
            requestHeaders = headers;
            readOnlyHeaders = headers;
        }
        if (pending.queryChanged()) {
            query = pending.query();
        }
        JsonNode body = pending.body();
        if (body != null) {
            requestBody = serialize(body);
            requestJson = body;
            requestJsonParsed = true;
            tokenDemand = null;
        }
    }
}
