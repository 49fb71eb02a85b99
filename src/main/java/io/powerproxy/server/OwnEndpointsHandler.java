package io.powerproxy.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.ProxyException;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The proxy's own endpoints under {@code /powerproxy/}: the liveness and readiness probes (README "Health
 * probes"). They need no client key, because orchestrators call them.
 */
final class OwnEndpointsHandler implements HttpHandler {

    static final String PREFIX = "/powerproxy/";
    private static final ObjectMapper JSON = Json.MAPPER;

    private final Runtimes runtimes;
    private final Liveness liveness;

    OwnEndpointsHandler(Runtimes runtimes, Liveness liveness) {
        this.runtimes = runtimes;
        this.liveness = liveness;
    }

    @Override
    public void handle(HttpExchange http) throws IOException {
        try (http) {
            String path = http.getRequestURI().getRawPath();
            String method = http.getRequestMethod();
            if (!"GET".equals(method) && !"HEAD".equals(method)) {
                ErrorResponses.send(http, ProxyException.of(405, "MethodNotAllowed", "Use GET for " + path + "."), "-");
                return;
            }
            switch (path) {
                case "/powerproxy/health/liveness" -> answer(http, "not live", liveness.problems());
                case "/powerproxy/health/readiness" -> readiness(http);
                default -> ErrorResponses.send(http, ProxyException.of(404, "NotFound", "'" + path
                        + "' is not an endpoint of the proxy; its own endpoints are /powerproxy/health/liveness and"
                        + " /powerproxy/health/readiness."), "-");
            }
        }
    }

    /** A process that is not live is not ready either. */
    private void readiness(HttpExchange http) throws IOException {
        List<String> problems = new ArrayList<>(liveness.problems());
        problems.addAll(runtimes.current().pipeline().readinessProblems());
        answer(http, "not ready", problems);
    }

    /** 204 without problems, else 503 with them. */
    private static void answer(HttpExchange http, String status, List<String> problems) throws IOException {
        if (problems.isEmpty()) {
            http.sendResponseHeaders(204, -1);
            return;
        }
        byte[] body = JSON.writeValueAsBytes(Map.of("status", status, "problems", problems));
        http.getResponseHeaders().set("Content-Type", "application/json");
        http.sendResponseHeaders(503, body.length);
        try (OutputStream out = http.getResponseBody()) {
            out.write(body);
        }
    }
}
