package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.upstream.Balancer;
import io.powerproxy.upstream.ForwardedHeaders;
import io.powerproxy.upstream.UpstreamAnswer;
import io.powerproxy.usage.UsageAccounting;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;

/**
 * Copies an upstream's answer to the client in bounded memory, in one of three ways: an event stream event by event
 * ({@link StreamRelay}), a JSON answer of up to {@link #MAX_BUFFERED_ANSWER_BYTES} held whole when
 * {@link BodyMemory} has room ({@link HeldJsonRelay}), anything else as it arrives ({@link PassThroughRelay}).
 * Whichever way, the usage record is made before the answer's last byte leaves, and the status goes out only with
 * the first bytes of the body, so that an upstream that closes before its body gives the client a 502 error
 * instead of an empty reply.
 */
final class AnswerRelay {

    /**
     * JSON answers up to this size are held whole before they are passed on: chat answers are a few KB, and 4 MiB
     * still holds over 100 embeddings of 1,536 dimensions. Larger ones pass through as they arrive.
     */
    static final int MAX_BUFFERED_ANSWER_BYTES = 4 * 1024 * 1024;

    private final Pipeline pipeline;
    private final ForwardedHeaders headerRules;
    private final IdleTimeout idleTimeout;
    private final HeldJsonRelay heldJson;
    private final StreamRelay stream;
    private final ProxyMetrics metrics;

    AnswerRelay(Pipeline pipeline, ForwardedHeaders headerRules, IdleTimeout idleTimeout, BodyMemory bodyMemory,
            ProxyMetrics metrics) {
        this.pipeline = pipeline;
        this.headerRules = headerRules;
        this.idleTimeout = idleTimeout;
        this.heldJson = new HeldJsonRelay(pipeline, bodyMemory, MAX_BUFFERED_ANSWER_BYTES);
        this.stream = new StreamRelay(pipeline);
        this.metrics = metrics;
    }

    /**
     * Passes the answer on, and closes its body and connection permit.
     *
     * @param recordUsage makes the request's usage record; run once, before the answer's last byte leaves
     * @throws ProxyException 502 when the upstream fails before any byte of the body went out
     * @throws ClientGoneException when writing to the client fails
     * @throws IOException an {@code UpstreamBrokeOff} when the upstream fails after the status went out
     */
    void relay(HttpExchange http, ExchangeState exchange, UpstreamAnswer answer, UsageAccounting accounting,
            Runnable recordUsage) throws IOException {
        accounting.answered();
        exchange.status(answer.status());
        exchange.responseHeaders(answer.headers());
        try (Balancer.Permit permit = answer.permit();
                InputStream body = idleTimeout.guard(answer.body(), answer.readTimeout())) {
            pipeline.responseHeaders(exchange);
            var out = http.getResponseHeaders();
            for (Map.Entry<String, List<String>> header : answer.headers().entrySet()) {
                if (headerRules.toClient(header.getKey())) {
                    out.put(header.getKey(), header.getValue());
                }
            }
            out.set(ProxyHandler.REQUEST_ID_HEADER, exchange.requestId());
            String contentType = exchange.responseHeader("content-type");
            String length = exchange.responseHeader("content-length");
            long declared = length == null ? -1 : RequestBody.contentLength(length);
            if ("HEAD".equals(exchange.method()) || answer.status() == 204 || answer.status() == 304) {
                recordUsage.run();
                http.sendResponseHeaders(answer.status(), -1);
            } else if (contentType != null && contentType.startsWith("text/event-stream")) {
                metrics.streamOpened();
                try {
                    stream.relay(http, exchange, body, accounting, recordUsage);
                } finally {
                    metrics.streamClosed();
                }
            } else if (contentType != null && contentType.contains("json")) {
                heldJson.relay(http, exchange, body, declared, accounting, recordUsage);
            } else {
                PassThroughRelay.relay(http, exchange, body, declared, null, accounting, recordUsage);
            }
        } finally {
            accounting.ended();
        }
    }
}
