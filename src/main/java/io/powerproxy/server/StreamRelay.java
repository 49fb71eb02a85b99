package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.streaming.ClientGoneException;
import io.powerproxy.streaming.SseCopier;
import io.powerproxy.usage.UsageAccounting;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Passes an SSE answer on event by event, each flushed as it arrives, counting its tokens and showing each event to
 * the plugins. The usage record is made when {@code data: [DONE]} arrives, before it is passed on; for plugins that
 * event ends the stream.
 */
final class StreamRelay {

    private final Pipeline pipeline;

    StreamRelay(Pipeline pipeline) {
        this.pipeline = pipeline;
    }

    /** Passes the whole stream on; the status and response headers are set on the exchange but not sent yet. */
    void relay(HttpExchange http, ExchangeState exchange, InputStream body, UsageAccounting accounting, Runnable recordUsage)
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
                if (!accounting.forward(event.data())) {
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
                    recordUsage.run();
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
}
