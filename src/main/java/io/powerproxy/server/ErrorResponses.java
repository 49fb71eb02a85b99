package io.powerproxy.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.ProxyException;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Map;

/** Writes the proxy's own errors in the Azure OpenAI error shape: {@code {"error":{"code":"...","message":"..."}}}. */
final class ErrorResponses {

    private static final ObjectMapper JSON = Json.MAPPER;

    private ErrorResponses() {
    }

    /** The error document for a rejection. */
    static byte[] body(String code, String message) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("code", code);
        error.put("message", message);
        try {
            return JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialise an error document", e);
        }
    }

    /** Sends the rejection as the whole response; the exchange must not have sent headers yet. */
    static void send(HttpExchange http, ProxyException rejection, String requestId) throws IOException {
        OutputStream out = write(http, rejection, requestId, false);
        if (out != null) {
            out.close();
        }
    }

    /**
     * Sends the rejection with {@code Connection: close} and flushes it, but leaves the response open, so that the
     * caller can read the rest of the request body before the connection closes (see {@link LingeringClose});
     * closing the exchange ends it.
     */
    static void sendBeforeLingering(HttpExchange http, ProxyException rejection, String requestId) throws IOException {
        OutputStream out = write(http, rejection, requestId, true);
        if (out != null) {
            out.flush();
        }
    }

    /** Writes the answer; returns its body stream to close, or null when the answer is already complete (HEAD). */
    private static OutputStream write(HttpExchange http, ProxyException rejection, String requestId, boolean close)
            throws IOException {
        byte[] body = body(rejection.code(), rejection.getMessage());
        var headers = http.getResponseHeaders();
        headers.clear();
        headers.set("Content-Type", "application/json");
        headers.set(ProxyHandler.REQUEST_ID_HEADER, requestId);
        for (Map.Entry<String, String> header : rejection.headers().entrySet()) {
            headers.set(header.getKey(), header.getValue());
        }
        if (close) {
            headers.set("Connection", "close");
        }
        boolean head = "HEAD".equals(http.getRequestMethod());
        http.sendResponseHeaders(rejection.status(), head ? -1 : body.length);
        if (head) {
            return null;
        }
        OutputStream out = http.getResponseBody();
        out.write(body);
        return out;
    }
}
