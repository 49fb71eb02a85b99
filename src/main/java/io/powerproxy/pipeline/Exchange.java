package io.powerproxy.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.usage.TokenDemand;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a plugin sees of one request, from arrival to the last byte: a read-only view.
 *
 * <p>Only the proxy records the client, deployment, target, status and streaming flag; a plugin reads them here and
 * cannot change them, nor the bytes the proxy forwards and counts: bodies come as read-only buffers, the JSON body
 * as a copy, headers as read-only maps. A plugin changes the request before it goes upstream through
 * {@link #changeRequest()}, and refuses it by throwing {@link ProxyException}. A plugin that needs private
 * per-request data declares a {@link Key} and uses {@link #put} and {@link #get}.
 *
 * <p>An exchange is used by one request's thread at a time and is not shared between requests.
 */
public final class Exchange {

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

    private final ExchangeState state;

    Exchange(ExchangeState state) {
        this.state = state;
    }

    /** A short id that names this request in logs, usage records and the {@code x-powerproxy-request-id} response header. */
    public String requestId() {
        return state.requestId();
    }

    /**
     * The request's W3C trace id (32 hex characters), as in the access log, the usage record and the
     * {@code traceparent} sent upstream: the client's when it sent a valid {@code traceparent}, else one the proxy
     * started (or the OpenTelemetry Java agent's, when the proxy runs under it); null before the core set it.
     */
    public String traceId() {
        return state.trace() == null ? null : state.trace().traceId();
    }

    /** When the request arrived (wall clock, UTC). */
    public Instant receivedAt() {
        return state.receivedAt();
    }

    /** {@link System#nanoTime()} when the request arrived, for durations. */
    public long receivedNanos() {
        return state.receivedNanos();
    }

    /** The HTTP method, upper case. */
    public String method() {
        return state.method();
    }

    /** The raw (still percent-encoded) request path as the client sent it. */
    public String path() {
        return state.path();
    }

    /**
     * The raw query string without {@code ?}, or null: as the client sent it during the request hooks, with the
     * plugins' changes after them.
     */
    public String query() {
        return state.query();
    }

    /**
     * The request's headers, read-only, names matched case-insensitively: as the client sent them during the request
     * hooks, with the plugins' changes after them (the forwarding rules of "Headers" in the README still apply).
     */
    public Map<String, List<String>> requestHeaders() {
        return state.readOnlyRequestHeaders();
    }

    /** The first value of a request header, or null. */
    public String requestHeader(String name) {
        return state.requestHeader(name);
    }

    /**
     * The request body, as a read-only buffer over the bytes (no copy); empty before {@link Plugin#onClientIdentified}
     * and when there is none. After the request hooks, the body with the plugins' changes: the bytes sent upstream.
     */
    public ByteBuffer requestBody() {
        return ByteBuffer.wrap(state.requestBody()).asReadOnlyBuffer();
    }

    /**
     * A copy of the request body parsed as a JSON object, or null when it is not one (or not read yet). Each call
     * makes a new copy, so changing it changes nothing: use {@link #changeRequest()} for that.
     */
    public JsonNode requestJson() {
        JsonNode json = state.requestJson();
        return json == null ? null : json.deepCopy();
    }

    /** Whether the request body is a JSON object (the bodies whose fields {@link #changeRequest()} can set). */
    public boolean requestIsJsonObject() {
        return state.requestJson() != null;
    }

    /**
     * A copy of one top-level field of the request body's JSON object, or null when the body is not one or has no
     * such field: what a plugin that reads a field or two uses, without copying a whole body of messages.
     */
    public JsonNode requestJsonField(String name) {
        JsonNode json = state.requestJson();
        JsonNode field = json == null ? null : json.get(name);
        return field == null ? null : field.deepCopy();
    }

    /**
     * The request's likely cost in tokens: its prompt estimated with jtokkit and the completion bound the client set;
     * estimated once per body and shared by every plugin that asks. Asked in {@link Plugin#onClientIdentified}, it is the
     * body as the client sent it (the plugins' changes are not applied yet; the estimate is made again when they
     * change the body); from {@link Plugin#onRequestReady} on, it is the body that goes upstream.
     */
    public TokenDemand tokenDemand() {
        return state.tokenDemand();
    }

    /** The client that sent the request; null until it was identified. */
    public ClientConfig client() {
        return state.client();
    }

    /**
     * The deployment the client asked for (a virtual deployment name when such are configured), or null when the
     * request names none.
     */
    public String deployment() {
        return state.deployment();
    }

    /** Whether the client asked for a streamed answer ({@code "stream": true} in its JSON body). */
    public boolean streaming() {
        return state.streaming();
    }

    /** The name of the endpoint that serves the request, or null before one was chosen. */
    public String endpointName() {
        return state.endpointName();
    }

    /** The real deployment (stand-in) that serves the request, or null when the endpoint took it as asked. */
    public String standinDeployment() {
        return state.standinDeployment();
    }

    /** The status sent (or being sent) to the client; 0 before there is one, 499 when the client went away. */
    public int status() {
        return state.status();
    }

    /** The upstream response's headers (names lower case), read-only; empty before the upstream answered. */
    public Map<String, List<String>> responseHeaders() {
        return state.responseHeaders();
    }

    /** The first value of an upstream response header (name in lower case), or null. */
    public String responseHeader(String lowerCaseName) {
        return state.responseHeader(lowerCaseName);
    }

    /**
     * The changes to make to the request before it goes upstream; only in {@link Plugin#onRequestReceived} and
     * {@link Plugin#onClientIdentified}. Every call in one request returns the same changes, shared by the plugins.
     *
     * @throws IllegalStateException in any later hook: the request has gone upstream
     */
    public RequestChanges changeRequest() {
        RequestChanges changes = state.changes();
        if (changes == null) {
            throw new IllegalStateException("the request can only be changed in onRequestReceived and"
                    + " onClientIdentified, before it goes upstream");
        }
        return changes;
    }

    /** A plugin's private per-request value, or null. */
    public <T> T get(Key<T> key) {
        return state.get(key);
    }

    /** Stores a plugin's private per-request value. */
    public <T> void put(Key<T> key, T value) {
        state.put(key, value);
    }
}
