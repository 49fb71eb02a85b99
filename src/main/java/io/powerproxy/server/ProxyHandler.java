package io.powerproxy.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.powerproxy.affinity.ObjectCall;
import io.powerproxy.logging.Printable;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.upstream.Failover;
import io.powerproxy.tracing.TraceContext;
import io.powerproxy.upstream.Target;
import io.powerproxy.upstream.UpstreamAnswer;
import io.powerproxy.upstream.UpstreamBody;
import io.powerproxy.upstream.UpstreamRequest;
import io.powerproxy.usage.UsageAccounting;
import io.powerproxy.usage.UsageRecord;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The proxy's one request handler: it tells each request's story, from its arrival to its access log line, and
 * leaves each step's details to the class that does it.
 */
final class ProxyHandler implements HttpHandler {

    /** The response header that carries the proxy's id of the request. */
    static final String REQUEST_ID_HEADER = "x-powerproxy-request-id";

    /** Request bodies above this size are refused; Azure's own limits (audio 25 MB, batch files 200 MB) are lower. */
    static final int MAX_BODY_BYTES = 256 * 1024 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(ProxyHandler.class);
    private static final Logger ACCESS = LoggerFactory.getLogger("io.powerproxy.access");
    /** The MDC keys of a request's lines in JSON logs; {@code trace_id} is also the OpenTelemetry agent's. */
    static final String REQUEST_ID_FIELD = "request_id";
    static final String TRACE_ID_FIELD = "trace_id";

    private final Runtimes runtimes;
    private final BodyMemory bodyMemory;
    private final LingeringClose lingeringClose;
    private final Liveness liveness;
    private final ProxyMetrics metrics;
    /** Whether every line logged while a request runs carries its ids as MDC fields (JSON logs only: it costs). */
    private final boolean logFields;

    ProxyHandler(Runtimes runtimes, IdleTimeout idleTimeout, BodyMemory bodyMemory, Liveness liveness,
            ProxyMetrics metrics, boolean logFields) {
        this.runtimes = runtimes;
        this.bodyMemory = bodyMemory;
        this.lingeringClose = new LingeringClose(idleTimeout);
        this.liveness = liveness;
        this.metrics = metrics;
        this.logFields = logFields;
    }

    /** Serves the request with the config current at its start, to its end, whatever a reload does meanwhile. */
    @Override
    public void handle(HttpExchange http) {
        ProxyRuntime runtime = runtimes.acquire();
        try {
            handle(http, runtime);
        } finally {
            runtime.release();
        }
    }

    private void handle(HttpExchange http, ProxyRuntime runtime) {
        Pipeline pipeline = runtime.pipeline();
        long started = System.nanoTime();
        ExchangeState exchange = new ExchangeState(newRequestId(), Instant.now(), started, http.getRequestMethod(),
                http.getRequestURI().getRawPath(), http.getRequestURI().getRawQuery(), http.getRequestHeaders());
        if (logFields) {
            MDC.put(REQUEST_ID_FIELD, exchange.requestId());
        }
        exchange.trace(TraceContext.of(exchange.requestId(), http.getRequestHeaders().get(TraceContext.TRACEPARENT),
                http.getRequestHeaders().get(TraceContext.TRACESTATE)));
        if (logFields) {
            MDC.put(TRACE_ID_FIELD, exchange.trace().traceId());
        }
        RequestBody body = new RequestBody(http, bodyMemory, MAX_BODY_BYTES);
        boolean abort = false;
        try {
            serve(http, exchange, body, runtime);
        } catch (ProxyException rejection) {
            // Before the answer goes out, for the same reason as below.
            body.release();
            reject(http, exchange, body, rejection, pipeline);
        } catch (ClientGoneException gone) {
            exchange.status(499);
        } catch (UpstreamBrokeOff brokeOff) {
            LOG.warn("request {}: the answer of {} broke off after the response had started: {}", exchange.requestId(),
                    exchange.endpointName(), brokeOff.getCause().toString());
            exchange.status(502);
            abort = true;
        } catch (Exception | Error bug) {
            abort = failed(http, exchange, body, bug, pipeline);
        } finally {
            try {
                // Before closing ends a chunked answer: a client that sends its next request at once must find the
                // memory free again (answers relayed gave it back already). The bytes stay with the exchange.
                body.release();
                // Unless they were done already: closing ends a chunked answer, and they come before that.
                endRequest(exchange, pipeline);
                if (!abort) {
                    http.close();
                }
            } finally {
                logAccess(exchange, started);
                metrics.requestEnded(exchange.client() == null ? null : exchange.client().name(), exchange.deployment(),
                        exchange.endpointName(), exchange.status(), exchange.rejectedBy());
                if (logFields) {
                    MDC.remove(REQUEST_ID_FIELD);
                    MDC.remove(TRACE_ID_FIELD);
                }
            }
        }
        if (abort) {
            abortConnection(http);
        }
    }

    /** The request's story: who asks, for which deployment, whether plugins let it pass, who answers, what it used. */
    private void serve(HttpExchange http, ExchangeState exchange, RequestBody body, ProxyRuntime runtime)
            throws IOException, InterruptedException {
        Pipeline pipeline = runtime.pipeline();
        Upstream upstream = runtime.upstream();
        RequestLimits.check(http);
        RequestPath path = RequestPath.parse(http.getRequestURI());
        pipeline.requestReceived(exchange);
        ClientIdentifier.Identity identity = runtime.clients().identify(
                exchange.requestHeader("api-key"), exchange.requestHeader("Authorization"));
        exchange.client(identity.client());
        exchange.requestBody(body.read());
        JsonNode json = exchange.requestJson();
        exchange.deployment(path.deployment() != null ? path.deployment() : AzureNames.deploymentInBody(json));
        exchange.streaming(json != null && json.path("stream").isBoolean() && json.path("stream").booleanValue());
        // Applies the plugins' changes: from here on the request is what goes upstream and what is counted.
        pipeline.clientIdentified(exchange);
        UsageAccounting accounting = UsageAccounting.start(path.rawPath(), exchange.query(), path.v1(),
                exchange.requestJson(), exchange.streaming());
        exchange.accounting(accounting);

        Failover.Attempts attempts = target -> requestFor(target, exchange, path, identity, accounting);
        ObjectCall objects = upstream.mock() != null ? null
                : upstream.affinity().callOf(exchange.method(), path.rawPath(), exchange.requestJson(), upstream.failover());
        UpstreamAnswer answer;
        if (upstream.mock() != null) {
            answer = answerFromMock(upstream, exchange, accounting);
        } else if (objects == null) {
            answer = upstream.failover().call(exchange.deployment(), exchange.streaming(), exchange::tokenDemand,
                    exchange.requestId(), attempts);
        } else {
            answer = upstream.affinity().route(objects, upstream.failover(), exchange.deployment(),
                    exchange.streaming(), exchange.requestId(), attempts);
            answer = upstream.affinity().answered(objects, exchange.endpointName(), answer);
        }
        runtime.answers().relay(http, exchange, answer, accounting, () -> lastBytesLeaving(exchange, body, pipeline));
    }

    /**
     * Runs just before the answer's last bytes leave (of a body with a Content-Length too, which ends without the
     * exchange being closed): the body's memory is free again for the client's next request, and the usage record is
     * made. The body's bytes stay with the exchange.
     */
    private void lastBytesLeaving(ExchangeState exchange, RequestBody body, Pipeline pipeline) {
        body.release();
        endRequest(exchange, pipeline);
    }

    /** The request as one target gets it: the target's deployment name where the client named one, path or body. */
    private static UpstreamRequest requestFor(Target target, ExchangeState exchange, RequestPath path,
            ClientIdentifier.Identity identity, UsageAccounting accounting) throws IOException {
        exchange.target(target.endpoint().name(), target.standinName());
        String requested = exchange.deployment();
        String deployment = requested == null ? null : target.deploymentFor(requested);
        UpstreamRequest request = new UpstreamRequest(exchange.method(),
                deployment == null ? path.rawPath() : path.withDeployment(deployment), exchange.query(),
                exchange.requestHeaders(), UpstreamBody.of(exchange.requestBody(), exchange.requestJson(),
                        path.deployment() == null ? deployment : null, accounting.askUpstreamForUsage()),
                identity.passThroughToken(), exchange.trace());
        accounting.attemptStarted();
        return request;
    }

    private static UpstreamAnswer answerFromMock(Upstream upstream, ExchangeState exchange, UsageAccounting accounting)
            throws InterruptedException {
        exchange.target("mock", null);
        boolean includeUsage = accounting.clientAskedForUsage() || accounting.askUpstreamForUsage();
        accounting.attemptStarted();
        Duration wait = upstream.mock().waitBeforeReturn();
        if (!wait.isZero()) {
            Thread.sleep(wait);
        }
        var mock = upstream.mock().answer(exchange.streaming(), includeUsage);
        return new UpstreamAnswer(mock.status(), Map.of("content-type", List.of(mock.contentType())),
                new ByteArrayInputStream(mock.body()), Duration.ofSeconds(120), null);
    }

    /**
     * Hands the request's usage record to the plugins (when an upstream answered), then tells them the request ended;
     * once per request, so that a plugin can give back what it held for the request, whatever the path it took.
     */
    private void endRequest(ExchangeState exchange, Pipeline pipeline) {
        recordUsage(exchange, pipeline);
        if (exchange.endedFirstTime()) {
            pipeline.requestEnded(exchange);
        }
    }

    /**
     * Hands the request's usage record to the plugins; every request an upstream answered gets exactly one. Called
     * before the answer's last byte leaves (so that a sink that writes the record at once has it on disk before the
     * client has the whole answer), and again when the request ends, which makes the record only if it was not made.
     */
    private void recordUsage(ExchangeState exchange, Pipeline pipeline) {
        UsageAccounting accounting = exchange.accounting();
        if (accounting == null) {
            return;
        }
        try {
            UsageRecord record = accounting.takeRecord(new UsageAccounting.Served(exchange.receivedAt(),
                    exchange.client().name(), exchange.deployment(), exchange.endpointName(),
                    exchange.standinDeployment(), exchange.responseHeader("x-ms-region"), exchange.status(),
                    exchange.requestId(), exchange.trace().traceId()));
            if (record != null) {
                metrics.usage(record.client(), exchange.deployment(), exchange.endpointName(), record.promptTokens(),
                        record.completionTokens(), record.usageSource() == UsageRecord.UsageSource.ESTIMATED,
                        accounting.upstreamNanos(), accounting.firstByteNanos());
                pipeline.usage(exchange, record);
            }
        } catch (RuntimeException | LinkageError e) {
            LOG.error("request {}: its usage record could not be made", exchange.requestId(), e);
        }
    }

    /**
     * A bug, or an error of the JVM: logged once (unless it ends the process), and answered 500 when the response has
     * not started.
     *
     * @return whether the response had started and the connection must be dropped
     */
    private boolean failed(HttpExchange http, ExchangeState exchange, RequestBody body, Throwable bug,
            Pipeline pipeline) {
        if (!liveness.fatal(bug, "handling request " + exchange.requestId() + " " + Printable.of(exchange.method())
                + " " + Printable.of(exchange.path()))) {
            LOG.error("request {} failed: {} {}", exchange.requestId(), Printable.of(exchange.method()),
                    Printable.of(exchange.path()), bug);
        }
        if (bug instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        boolean started = http.getResponseCode() != -1;
        reject(http, exchange, body, ProxyException.of(500, "InternalServerError", "The proxy failed to handle the"
                + " request; look for request id " + exchange.requestId() + " in its log."), pipeline);
        return started;
    }

    /**
     * Ends a response that broke off. Closing the exchange would end the body as if it were complete; throwing instead
     * makes the HttpServer drop the connection, so the client sees a truncated response as an error. What was written
     * goes out first, so that the client sees the status line and where the answer broke off.
     */
    private static void abortConnection(HttpExchange http) {
        try {
            http.getResponseBody().flush();
        } catch (IOException clientGone) {
            // Nothing more to tell it.
        }
        throw new ResponseAborted();
    }

    private void reject(HttpExchange http, ExchangeState exchange, RequestBody body, ProxyException rejection,
            Pipeline pipeline) {
        if (http.getResponseCode() != -1) {
            // Headers are out: the status can no longer change, so the broken response is cut off instead.
            LOG.warn("request {}: {} after the response had started: {}", exchange.requestId(), rejection.code(),
                    rejection.getMessage());
            return;
        }
        exchange.status(rejection.status());
        endRequest(exchange, pipeline);
        try {
            if (body.mayStillBeSending()) {
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

    /** One line per request; every value in it that a client chose is escaped, so it cannot forge a line. */
    private static void logAccess(ExchangeState exchange, long started) {
        ACCESS.info("{} {} {} client={} deployment={} target={} status={} {}ms trace={}", exchange.requestId(),
                Printable.of(exchange.method()), Printable.of(exchange.path()),
                exchange.client() == null ? "-" : Printable.of(exchange.client().name()),
                exchange.deployment() == null ? "-" : Printable.of(exchange.deployment()),
                Printable.of(targetName(exchange)), exchange.status(), (System.nanoTime() - started) / 1_000_000,
                exchange.trace().traceId());
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
}
