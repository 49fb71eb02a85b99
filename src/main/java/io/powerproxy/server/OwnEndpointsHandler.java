package io.powerproxy.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.powerproxy.json.Json;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.ProxyException;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The proxy's own endpoints under {@code /powerproxy/}: the liveness and readiness probes (README "Health
 * probes"), which need no client key because orchestrators call them, and the metrics (README "Metrics"), which need
 * one unless {@code POWERPROXY_METRICS_AUTH=none}.
 */
final class OwnEndpointsHandler implements HttpHandler {

    static final String PREFIX = "/powerproxy/";
    private static final ObjectMapper JSON = Json.MAPPER;

    private final Runtimes runtimes;
    private final Liveness liveness;
    private final ProxyMetrics metrics;

    OwnEndpointsHandler(Runtimes runtimes, Liveness liveness, ProxyMetrics metrics) {
        this.runtimes = runtimes;
        this.liveness = liveness;
        this.metrics = metrics;
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
                case "/powerproxy/metrics" -> metrics(http);
                default -> ErrorResponses.send(http, ProxyException.of(404, "NotFound", "'" + path
                        + "' is not an endpoint of the proxy; its own endpoints are /powerproxy/health/liveness,"
                        + " /powerproxy/health/readiness and /powerproxy/metrics."), "-");
            }
        }
    }

    /**
     * Every metric in the format the {@code Accept} header asks for (OpenMetrics, else the Prometheus text format),
     * after checking the caller's client key unless the metrics are open. A key of the Entra ID client's bearer
     * tokens does not count: any token would pass.
     */
    private void metrics(HttpExchange http) throws IOException {
        if (metrics.scrapeNeedsClientKey()) {
            try {
                ClientIdentifier.Identity identity = runtimes.current().clients().identify(http.getRequestHeaders().getFirst("api-key"),
                        http.getRequestHeaders().getFirst("Authorization"));
                if (identity.passThroughToken() != null) {
                    throw ProxyException.of(401, "Unauthorized", "The metrics need the key of a client of this proxy"
                            + " (in 'api-key' or as 'Authorization: Bearer <key>'); an Entra ID token is not one.");
                }
            } catch (ProxyException rejection) {
                ErrorResponses.send(http, ProxyException.of(401, "Unauthorized", rejection.getMessage()
                        + " The metrics need a client key unless the proxy runs with POWERPROXY_METRICS_AUTH=none."), "-");
                return;
            }
        }
        ExpositionFormatWriter writer = metrics.writerFor(http.getRequestHeaders().getFirst("Accept"));
        ByteArrayOutputStream text = new ByteArrayOutputStream(64 * 1024);
        metrics.scrape(writer, text);
        http.getResponseHeaders().set("Content-Type", writer.getContentType());
        if ("HEAD".equals(http.getRequestMethod())) {
            http.sendResponseHeaders(200, -1);
            return;
        }
        http.sendResponseHeaders(200, text.size());
        try (OutputStream out = http.getResponseBody()) {
            text.writeTo(out);
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
