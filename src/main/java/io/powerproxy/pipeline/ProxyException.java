package io.powerproxy.pipeline;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An expected rejection of a request (bad key, unknown deployment, budget used up), answered to the client
 * in the Azure OpenAI error shape {@code {"error":{"code":..., "message":...}}}.
 *
 * <p>It carries no stack trace: it is control flow, not a bug. The message is shown to the client, so it must
 * say what to fix and must never contain a secret.
 */
public final class ProxyException extends RuntimeException {

    private final int status;
    private final String code;
    private final Map<String, String> headers;

    private ProxyException(int status, String code, String message, Map<String, String> headers) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.headers = Map.copyOf(headers);
    }

    /** A rejection with an HTTP status, an Azure-style error code and a message for the client. */
    public static ProxyException of(int status, String code, String message) {
        if (status < 400 || status > 599) {
            throw new IllegalArgumentException("status must be 4xx or 5xx: " + status);
        }
        return new ProxyException(status, code, message, Map.of());
    }

    /** The same rejection with one more response header, e.g. {@code retry-after}. */
    public ProxyException withHeader(String name, String value) {
        Map<String, String> more = new LinkedHashMap<>(headers);
        more.put(name, value);
        return new ProxyException(status, code, getMessage(), more);
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    /** Extra response headers to send with the error. */
    public Map<String, String> headers() {
        return headers;
    }
}
