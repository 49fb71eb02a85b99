package io.powerproxy.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.powerproxy.json.Json;
import io.powerproxy.logging.Printable;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.streaming.SseCopier;
import io.powerproxy.upstream.Balancer;
import io.powerproxy.upstream.Target;
import io.powerproxy.upstream.UpstreamClient;
import io.powerproxy.upstream.UpstreamRequest;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's one request handler: receive, identify the client, run the plugins, choose a target, call it,
 * and copy the answer back (buffered, or event by event for SSE).
 */
final class ProxyHandler implements HttpHandler {

    /** The response header that carries the proxy's id of the request. */
    static final String REQUEST_ID_HEADER = "x-powerproxy-request-id";

    /** Request bodies above this size are refused; Azure's own limits (audio 25 MB, batch files 200 MB) are lower. */
    static final int MAX_BODY_BYTES = 256 * 1024 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(ProxyHandler.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("io.powerproxy.access");
    private static final ObjectMapper JSON = Json.MAPPER;
    /** Answers that make the balancer block the target and try the next one (§5). */
    private static final Set<Integer> FAILOVER_STATUSES = Set.of(408, 429, 500, 502, 503, 504);
    private static final Exchange.Key<UsageAccounting> ACCOUNTING = Exchange.Key.of("usage accounting");
    private static final Exchange.Key<BodyMemory.Reservation> BODY_RESERVATION = Exchange.Key.of("request body memory");
    private static final Exchange.Key<Boolean> BODY_READ = Exchange.Key.of("request body read to its end");

    private final ClientIdentifier clients;
    private final Pipeline pipeline;
    private final Upstream upstream;
    private final IdleTimeout idleTimeout;
    private final BodyMemory bodyMemory;
    private final LingeringClose lingeringClose;
    private final AnswerRelay answers;
    private final Liveness liveness;

    ProxyHandler(ClientIdentifier clients, Pipeline pipeline, Upstream upstream, IdleTimeout idleTimeout,
            BodyMemory bodyMemory, Liveness liveness) {
        this.clients = clients;
        this.liveness = liveness;
        this.bodyMemory = bodyMemory;
        this.pipeline = pipeline;
        this.upstream = upstream;
        this.idleTimeout = idleTimeout;
        this.lingeringClose = new LingeringClose(idleTimeout);
        this.answers = new AnswerRelay(pipeline, bodyMemory);
    }

    @Override
    public void handle(HttpExchange http) {
        long started = System.nanoTime();
        ExchangeState exchange = new ExchangeState(newRequestId(), Instant.now(), started, http.getRequestMethod(),
                http.getRequestURI().getRawPath(), http.getRequestURI().getRawQuery(), http.getRequestHeaders());
        boolean abort = false;
        try {
            serve(http, exchange);
        } catch (ProxyException rejection) {
            // Before the answer goes out, for the same reason as below.
            releaseBody(exchange);
            reject(http, exchange, rejection);
        } catch (ClientGoneException gone) {
            exchange.status(499);
        } catch (UpstreamBrokeOff brokeOff) {
            LOG.warn("request {}: the answer of {} broke off after the response had started: {}", exchange.requestId(),
                    exchange.endpointName(), brokeOff.getCause().toString());
            exchange.status(502);
            abort = true;
        } catch (Exception | Error bug) {
            if (!liveness.fatal(bug, "handling request " + exchange.requestId() + " " + Printable.of(exchange.method())
                    + " " + Printable.of(exchange.path()))) {
                LOG.error("request {} failed: {} {}", exchange.requestId(), Printable.of(exchange.method()),
                        Printable.of(exchange.path()), bug);
            }
            if (bug instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            abort = http.getResponseCode() != -1;
            reject(http, exchange, ProxyException.of(500, "InternalServerError",
                    "The proxy failed to handle the request; look for request id " + exchange.requestId() + " in its log."));
        } finally {
            try {
                // Before the answer's last bytes go out: a client that sends its next request at once must find the
                // memory free again. The bytes stay with the exchange for the usage record.
                releaseBody(exchange);
                // Unless it was made already: closing ends a chunked answer, and the record comes before that.
                recordUsage(exchange);
                if (!abort) {
                    http.close();
                }
            } finally {
                logAccess(exchange, started);
            }
        }
        if (abort) {
            // Closing the exchange would end the body as if it were complete; throwing instead makes the
            // HttpServer drop the connection, so the client sees a truncated response as an error. What was written
            // goes out first, so that the client sees the status line and where the answer broke off.
            try {
                http.getResponseBody().flush();
            } catch (IOException clientGone) {
                // Nothing more to tell it.
            }
            throw new ResponseAborted();
        }
    }

    /** One line per request; every value in it that a client chose is escaped, so it cannot forge a line. */
    private static void logAccess(ExchangeState exchange, long started) {
        ACCESS.info("{} {} {} client={} deployment={} target={} status={} {}ms", exchange.requestId(),
                Printable.of(exchange.method()), Printable.of(exchange.path()),
                exchange.client() == null ? "-" : Printable.of(exchange.client().name()),
                exchange.deployment() == null ? "-" : Printable.of(exchange.deployment()),
                Printable.of(targetName(exchange)), exchange.status(), (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Hands the request's usage record to the plugins; every request an upstream answered gets exactly one. Called
     * before the answer's last byte leaves (so that a sink that writes the record at once has it on disk before the
     * client has the whole answer), and again when the request ends, which makes the record only if it was not made.
     */
    private void recordUsage(ExchangeState exchange) {
        UsageAccounting accounting = exchange.get(ACCOUNTING);
        if (accounting == null) {
            return;
        }
        try {
            UsageRecord record = accounting.takeRecord();
            if (record != null) {
                pipeline.usage(exchange, record);
            }
        } catch (RuntimeException | LinkageError e) {
            LOG.error("request {}: its usage record could not be made", exchange.requestId(), e);
        }
    }

    private void serve(HttpExchange http, ExchangeState exchange) throws IOException, InterruptedException {
        RequestLimits.check(http);
        RequestPath path = RequestPath.parse(http.getRequestURI());
        pipeline.requestReceived(exchange);
        ClientIdentifier.Identity identity = clients.identify(
                exchange.requestHeader("api-key"), exchange.requestHeader("Authorization"));
        exchange.client(identity.client());
        exchange.requestBody(readBody(http, exchange));
        JsonNode json = exchange.requestJson();
        exchange.deployment(path.deployment() != null ? path.deployment()
                : path.v1() ? AzureNames.deployment(textField(json, "model"), "in the body's model") : null);
        exchange.streaming(json != null && json.path("stream").isBoolean() && json.path("stream").booleanValue());
        // Applies the plugins' changes to the request: from here on it is what goes upstream and is counted.
        pipeline.clientIdentified(exchange);
        UsageAccounting accounting = UsageAccounting.start(exchange, path);
        exchange.put(ACCOUNTING, accounting);

        UpstreamAnswer answer = upstream.mock() != null
                ? answerFromMock(exchange, accounting)
                : callUpstream(exchange, path, identity, accounting);
        relay(http, exchange, answer, accounting);
    }

    private UpstreamAnswer answerFromMock(ExchangeState exchange, UsageAccounting accounting) throws InterruptedException {
        exchange.target("mock", null);
        boolean includeUsage = accounting.clientAskedForUsage() || accounting.askUpstreamForUsage();
        accounting.attemptStarted();
        Duration wait = upstream.mock().waitBeforeReturn();
        if (!wait.isZero()) {
            Thread.sleep(wait);
        }
        var mock = upstream.mock().answer(exchange.streaming(), includeUsage);
        return new UpstreamAnswer(mock.status(), Map.of("content-type", List.of(mock.contentType())),
                new java.io.ByteArrayInputStream(mock.body()), Duration.ofSeconds(120), null);
    }

    private UpstreamAnswer callUpstream(ExchangeState exchange, RequestPath path, ClientIdentifier.Identity identity,
            UsageAccounting accounting) throws IOException, InterruptedException {
        Balancer balancer = upstream.balancer();
        String requested = exchange.deployment();
        List<Target> plan = balancer.plan(requested, exchange.streaming());
        for (Target target : plan) {
            if (balancer.isBlocked(target, requested)) {
                continue;
            }
            Optional<Balancer.Permit> permit = balancer.acquire(target.endpoint());
            if (permit.isEmpty()) {
                continue;
            }
            if (balancer.isBlocked(target, requested)) {
                // It was blocked while this request waited for a free connection to it.
                permit.get().close();
                continue;
            }
            boolean handedOver = false;
            try {
                HttpResponse<InputStream> response = attempt(exchange, path, identity, target, accounting);
                if (response == null) {
                    continue;
                }
                if (FAILOVER_STATUSES.contains(response.statusCode())) {
                    balancer.block(target, requested, response.statusCode(),
                            name -> response.headers().firstValue(name).orElse(null));
                    discard(response);
                    continue;
                }
                handedOver = true;
                return new UpstreamAnswer(response.statusCode(), lowerCaseNames(response.headers().map()),
                        response.body(), target.endpoint().config().timeouts().read(), permit.get());
            } finally {
                if (!handedOver) {
                    permit.get().close();
                }
            }
        }
        throw balancer.noTargetLeft(requested, plan);
    }

    /** One try at one target; null when it failed before an answer and the target was blocked for it. */
    private HttpResponse<InputStream> attempt(ExchangeState exchange, RequestPath path, ClientIdentifier.Identity identity,
            Target target, UsageAccounting accounting) throws IOException, InterruptedException {
        exchange.target(target.endpoint().name(), target.standinName());
        String requested = exchange.deployment();
        String deployment = requested == null ? null : target.deploymentFor(requested);
        UpstreamRequest request = new UpstreamRequest(exchange.method(),
                deployment == null ? path.rawPath() : path.withDeployment(deployment), exchange.query(),
                exchange.requestHeaders(), bodyFor(exchange, path, deployment, accounting.askUpstreamForUsage()),
                identity.passThroughToken());
        Balancer balancer = upstream.balancer();
        accounting.attemptStarted();
        try {
            HttpResponse<InputStream> response = upstream.client().send(target, request);
            balancer.answered(target, requested);
            return response;
        } catch (HttpConnectTimeoutException e) {
            balancer.blockUnreachable(target.endpoint(), "could not be connected to within "
                    + target.endpoint().config().timeouts().connect().toMillis() + " ms");
        } catch (HttpTimeoutException e) {
            balancer.blockTimedOut(target, requested, "did not answer within "
                    + target.endpoint().config().timeouts().read().toMillis() + " ms");
        } catch (ConnectException | SSLException e) {
            balancer.blockUnreachable(target.endpoint(), "could not be connected to (" + e + ")");
        } catch (IOException e) {
            // The request may have reached the upstream and been served: sending it elsewhere could run it twice.
            LOG.warn("request {} to {} failed after it was sent: {}", exchange.requestId(), target.describe(), e.toString());
            throw failed(502, "EndpointFailed", "the connection to endpoint '" + target.endpoint().name()
                    + "' failed after the request was sent; it was not retried elsewhere because it may have run");
        }
        return null;
    }

    /** Reads a small failed answer to the end so that its connection can be reused; closes a large one. */
    private static void discard(HttpResponse<InputStream> response) {
        try (InputStream body = response.body()) {
            long length = response.headers().firstValueAsLong("content-length").orElse(-1);
            if (length >= 0 && length <= 64 * 1024) {
                body.readNBytes((int) length);
            }
        } catch (IOException e) {
            // The attempt failed already; its connection is dropped.
        }
    }

    /**
     * The request body to send: the client's bytes, except that v1 calls name the stand-in in {@code model} and
     * streaming calls may ask for exact usage.
     */
    private static byte[] bodyFor(ExchangeState exchange, RequestPath path, String deployment, boolean askForUsage)
            throws IOException {
        JsonNode json = exchange.requestJson();
        boolean renameModel = path.v1() && deployment != null && json != null
                && !deployment.equals(textField(json, "model"));
        if (!renameModel && !askForUsage) {
            return exchange.requestBody();
        }
        ObjectNode rewritten = ((ObjectNode) json).deepCopy();
        if (renameModel) {
            rewritten.put("model", deployment);
        }
        if (askForUsage) {
            JsonNode options = rewritten.get("stream_options");
            (options instanceof ObjectNode object ? object : rewritten.putObject("stream_options"))
                    .put("include_usage", true);
        }
        return JSON.writeValueAsBytes(rewritten);
    }

    private void relay(HttpExchange http, ExchangeState exchange, UpstreamAnswer answer, UsageAccounting accounting)
            throws IOException {
        accounting.answered();
        exchange.status(answer.status());
        exchange.responseHeaders(answer.headers());
        try (Balancer.Permit permit = answer.permit();
                InputStream body = idleTimeout.guard(answer.body(), answer.readTimeout())) {
            pipeline.responseHeaders(exchange);
            var out = http.getResponseHeaders();
            for (Map.Entry<String, List<String>> header : answer.headers().entrySet()) {
                if (upstream.headerRules().toClient(header.getKey())) {
                    out.put(header.getKey(), header.getValue());
                }
            }
            out.set(REQUEST_ID_HEADER, exchange.requestId());
            String contentType = exchange.responseHeader("content-type");
            if ("HEAD".equals(exchange.method()) || answer.status() == 204 || answer.status() == 304) {
                recordUsage(exchange);
                http.sendResponseHeaders(answer.status(), -1);
            } else if (contentType != null && contentType.startsWith("text/event-stream")) {
                relayStream(http, exchange, body, accounting);
            } else {
                answers.relay(http, exchange, body, accounting, contentType != null && contentType.contains("json"),
                        () -> recordUsage(exchange));
            }
        } finally {
            accounting.ended();
        }
    }

    /**
     * Passes an SSE answer on event by event. The usage record is made when {@code data: [DONE]} arrives, before it
     * is passed on; for plugins that event ends the stream.
     */
    private void relayStream(HttpExchange http, ExchangeState exchange, InputStream body, UsageAccounting accounting)
            throws IOException {
        http.sendResponseHeaders(exchange.status(), 0);
        OutputStream client = http.getResponseBody();
        try {
            client.flush();
        } catch (IOException e) {
            throw new ClientGoneException("client went away before the stream started", e);
        }
        boolean[] ended = {false};
        try {
            SseCopier.copy(body, client, event -> {
                if (!accounting.forward(event)) {
                    return false;
                }
                if (ended[0]) {
                    // Bytes after [DONE] are passed on as sent; Azure sends none.
                    return true;
                }
                pipeline.streamEvent(exchange, event);
                if (event.isDone()) {
                    ended[0] = true;
                    pipeline.streamEnded(exchange);
                    recordUsage(exchange);
                }
                return true;
            });
        } catch (ClientGoneException gone) {
            exchange.status(499);
            throw gone;
        } catch (IOException upstreamFailed) {
            exchange.status(502);
            throw new UpstreamBrokeOff(upstreamFailed);
        } finally {
            if (!ended[0]) {
                pipeline.streamEnded(exchange);
            }
        }
    }

    /**
     * Reads the whole request body, reserving its bytes in {@link #bodyMemory} under the exchange (released when the
     * request ends): a declared length at once, before any byte is read, and a chunked body as it grows.
     */
    private byte[] readBody(HttpExchange http, ExchangeState exchange) throws IOException {
        String declared = http.getRequestHeaders().getFirst("Content-Length");
        long length = declared == null ? -1 : parseLength(declared);
        if (length > MAX_BODY_BYTES) {
            throw tooLarge();
        }
        String transferEncoding = http.getRequestHeaders().getFirst("Transfer-Encoding");
        if (transferEncoding != null && transferEncoding.toLowerCase(Locale.ROOT).contains("chunked")) {
            // The length is unknown until the last chunk (the server refuses a request with both headers).
            length = -1;
        } else if (length < 0) {
            // Neither a length nor chunks: HTTP/1.1 says there is no body (GET, DELETE, most probes).
            http.getRequestBody().close();
            exchange.put(BODY_READ, true);
            return new byte[0];
        }
        BodyMemory.Reservation reservation = bodyMemory.newReservation();
        exchange.put(BODY_RESERVATION, reservation);
        // Not closed on a refusal: closing would drain a little of the rest, and the refusal reads what is left
        // (see LingeringClose). Closing the exchange closes it.
        InputStream in = http.getRequestBody();
        if (length >= 0) {
            reservation.add(length);
            byte[] body = new byte[(int) length];
            int read = in.readNBytes(body, 0, body.length);
            exchange.put(BODY_READ, true);
            return read == body.length ? body : Arrays.copyOf(body, read);
        }
        byte[] body = new byte[8 * 1024];
        reservation.add(body.length);
        int size = 0;
        while (true) {
            if (size == body.length) {
                if (size > MAX_BODY_BYTES) {
                    throw tooLarge();
                }
                int grown = (int) Math.min((long) size * 2, MAX_BODY_BYTES + 1L);
                reservation.add(grown - size);
                body = Arrays.copyOf(body, grown);
            }
            int n = in.read(body, size, body.length - size);
            if (n < 0) {
                exchange.put(BODY_READ, true);
                return Arrays.copyOf(body, size);
            }
            size += n;
        }
    }

    /** Gives back what the request holds of {@link #bodyMemory}. */
    private static void releaseBody(ExchangeState exchange) {
        BodyMemory.Reservation reservation = exchange.get(BODY_RESERVATION);
        if (reservation != null) {
            reservation.release();
        }
    }

    private static ProxyException tooLarge() {
        return ProxyException.of(413, "RequestTooLarge",
                "The request body is larger than " + (MAX_BODY_BYTES >> 20) + " MiB, the most this proxy accepts.");
    }

    static long parseLength(String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private void reject(HttpExchange http, ExchangeState exchange, ProxyException rejection) {
        if (http.getResponseCode() != -1) {
            // Headers are out: the status can no longer change, so the broken response is cut off instead.
            LOG.warn("request {}: {} after the response had started: {}", exchange.requestId(), rejection.code(),
                    rejection.getMessage());
            return;
        }
        exchange.status(rejection.status());
        recordUsage(exchange);
        try {
            if (exchange.get(BODY_READ) == null && announcesBody(http)) {
                // The client may still be sending: it must get to read this answer (see LingeringClose).
                ErrorResponses.sendBeforeLingering(http, rejection, exchange.requestId());
                lingeringClose.discardRest(http.getRequestBody());
            } else {
                ErrorResponses.send(http, rejection, exchange.requestId());
            }
        } catch (IOException e) {
            exchange.status(499);
        }
    }

    private static boolean announcesBody(HttpExchange http) {
        String transferEncoding = http.getRequestHeaders().getFirst("Transfer-Encoding");
        String length = http.getRequestHeaders().getFirst("Content-Length");
        return transferEncoding != null || (length != null && parseLength(length) != 0);
    }

    private static ProxyException failed(int status, String code, String what) {
        return ProxyException.of(status, code, "The request could not be served: " + what + ".");
    }

    private static String textField(JsonNode json, String field) {
        if (json == null) {
            return null;
        }
        JsonNode value = json.get(field);
        return value != null && value.isTextual() ? value.textValue() : null;
    }

    private static Map<String, List<String>> lowerCaseNames(Map<String, List<String>> headers) {
        Map<String, List<String>> lower = new java.util.LinkedHashMap<>(headers.size() * 2);
        for (Map.Entry<String, List<String>> header : headers.entrySet()) {
            lower.put(header.getKey().toLowerCase(java.util.Locale.ROOT), header.getValue());
        }
        return lower;
    }

    private static String targetName(ExchangeState exchange) {
        if (exchange.endpointName() == null) {
            return "-";
        }
        return exchange.standinDeployment() == null ? exchange.endpointName()
                : exchange.endpointName() + "/" + exchange.standinDeployment();
    }

    private static String newRequestId() {
        return Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    }

    /** Thrown to the HttpServer so that it drops the connection instead of ending the response normally. */
    private static final class ResponseAborted extends RuntimeException {
        ResponseAborted() {
            super("response aborted", null, false, false);
        }
    }

    /** An upstream's (or the mock's) answer, before it is copied to the client. */
    private record UpstreamAnswer(int status, Map<String, List<String>> headers, InputStream body, Duration readTimeout,
            Balancer.Permit permit) {
    }
}
