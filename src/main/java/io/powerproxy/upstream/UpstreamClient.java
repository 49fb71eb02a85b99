package io.powerproxy.upstream;

import io.powerproxy.config.EndpointConfig;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.tracing.TraceContext;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends requests to Azure OpenAI endpoints with {@link java.net.http.HttpClient}, with the endpoint's
 * credentials in place of the client's.
 *
 * <p>One {@code HttpClient} (and so one connection pool) is shared by all endpoints with the same connect
 * timeout, which the JDK sets per client rather than per request; usually that is one for the process.
 *
 * <p>An {@code HttpClient} whose selector thread has ended (an {@link Error} there, typically an
 * {@link OutOfMemoryError}, ends it) fails every later request at once with "selector manager closed". It is not
 * rebuilt: such an error may have left the process unusable in other ways too. Requests get a 503 instead, and
 * {@link #brokenReason()} makes the liveness probe fail, so that the process is restarted.
 */
public final class UpstreamClient implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(UpstreamClient.class);
    /** Bodies above this size may take longer to send, so the write timeout is added to the wait for headers. */
    private static final int LARGE_BODY = 1 << 20;
    /** How long exchanges still running at close may take to end before their connections are cut. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

    private final Map<Duration, HttpClient> clients;
    private final ExecutorService executor;
    private final ForwardedHeaders headerRules;
    private final TokenSource tokens;
    /** Times the wait for an answer's headers (see {@link #sendWithin}). */
    private final IdleTimeout timer;
    private final AtomicBoolean brokenLogged = new AtomicBoolean();

    private UpstreamClient(Map<Duration, HttpClient> clients, ExecutorService executor, ForwardedHeaders headerRules,
            TokenSource tokens, IdleTimeout timer) {
        this.clients = clients;
        this.executor = executor;
        this.headerRules = headerRules;
        this.tokens = tokens;
        this.timer = timer;
    }

    /**
     * Creates the client for the given endpoints.
     *
     * @param tokens where Entra ID tokens come from for endpoints without a key; may be null when every endpoint
     *     has a key
     * @param timer the process's timer thread, which times the wait for each answer's headers
     */
    public static UpstreamClient create(List<EndpointConfig> endpoints, ForwardedHeaders headerRules, TokenSource tokens,
            IdleTimeout timer) {
        return new UpstreamClient(new ConcurrentHashMap<>(), Executors.newVirtualThreadPerTaskExecutor(), headerRules,
                tokens, timer).withClientsFor(endpoints);
    }

    /**
     * The client for a reloaded config: it shares this one's {@code HttpClient}s, and so their pooled connections,
     * adding one for each new connect timeout. Clients no endpoint uses any more stay until {@link #close()} (their
     * idle connections close after the keep-alive expiry); only the last of these clients is ever closed.
     */
    public UpstreamClient reconfigured(List<EndpointConfig> endpoints, ForwardedHeaders headerRules,
            TokenSource tokens) {
        return new UpstreamClient(clients, executor, headerRules, tokens, timer).withClientsFor(endpoints);
    }

    private UpstreamClient withClientsFor(List<EndpointConfig> endpoints) {
        for (EndpointConfig endpoint : endpoints) {
            clients.computeIfAbsent(endpoint.timeouts().connect(), connect -> HttpClient.newBuilder()
                    .connectTimeout(connect)
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .executor(executor)
                    .build());
        }
        return this;
    }

    /**
     * Sends the request and returns as soon as the response headers arrived; the caller reads and closes the body.
     *
     * @throws java.net.http.HttpConnectTimeoutException when no connection could be made in time
     * @throws java.net.http.HttpTimeoutException when the headers did not arrive within the read timeout
     * @throws IOException for any other transport failure
     */
    public HttpResponse<InputStream> send(Target target, UpstreamRequest request) throws IOException, InterruptedException {
        Endpoint endpoint = target.endpoint();
        EndpointConfig config = endpoint.config();
        Duration timeout = config.timeouts().read();
        if (request.body().length > LARGE_BODY) {
            timeout = timeout.plus(config.timeouts().write());
        }
        // Over HTTP/2 a connection carries many requests, and the interrupt that ends a timed-out wait (see
        // sendWithin) could close it under all of them if it came while this thread wrote on it: those requests keep
        // the JDK's own timeout, which resets only their stream.
        boolean shared = endpoint.version() == HttpClient.Version.HTTP_2;
        HttpRequest.Builder builder = HttpRequest.newBuilder(endpoint.uri(request.rawPath(), request.rawQuery()))
                .version(endpoint.version())
                .method(request.method(), request.body().length == 0
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(request.body()));
        copyHeaders(request.clientHeaders(), builder);
        traceHeaders(request.trace(), builder);
        authenticate(endpoint, request, builder);
        if (shared) {
            builder.timeout(timeout);
        }
        HttpClient client = clients.get(config.timeouts().connect());
        try {
            return shared ? client.send(builder.build(), HttpResponse.BodyHandlers.ofInputStream())
                    : sendWithin(client, builder.build(), timeout);
        } catch (IOException e) {
            if (!client.isTerminated()) {
                throw e;
            }
            // The cause, when there is one, is the error that ended the selector thread.
            if (brokenLogged.compareAndSet(false, true)) {
                LOG.error("the HTTP client to the endpoints has stopped; requests get 503 until the process is restarted",
                        e);
            }
            throw unavailable();
        }
    }

    /**
     * {@link HttpClient#send} with the wait for the answer's headers timed by the process's timer thread instead of a
     * request timeout: for each request with a timeout the JDK client registers a timer and wakes its selector thread
     * (a system call and a thread hand-off per request: 10% of the CPU of a bare relay here), while a watch of
     * {@link IdleTimeout} is an entry in a set that its thread scans every tick. When the watch fires it interrupts
     * the waiting thread, which makes {@code send} cancel the exchange (closing its connection, as the JDK's own
     * timeout does), and this throws the {@link HttpTimeoutException} that {@code send} would. ({@code sendAsync}
     * with a timed wait is no way out: it hands every step of the exchange to another thread.) For HTTP/1.1 only,
     * where the connection is the request's own.
     */
    private HttpResponse<InputStream> sendWithin(HttpClient client, HttpRequest request, Duration timeout)
            throws IOException, InterruptedException {
        HeadersWait wait = new HeadersWait(Thread.currentThread());
        IdleTimeout.Watch watch = timer.watch(wait, timeout);
        try {
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            // An answer that came as the watch fired is used; the watch's interrupt is cleared.
            wait.end(watch);
            return response;
        } catch (InterruptedException | IOException e) {
            // An IOException too: the interrupt may have come while send wrote the request on this thread.
            if (wait.end(watch)) {
                throw new HttpTimeoutException("request timed out");
            }
            throw e;
        } catch (RuntimeException | Error e) {
            wait.end(watch);
            throw e;
        }
    }

    /** The thread waiting for an answer's headers, interrupted when its watch fires unless the wait ended first. */
    static final class HeadersWait implements Closeable {
        private static final int WAITING = 0;
        private static final int ENDED = 1;
        private static final int INTERRUPTING = 2;
        private static final int INTERRUPTED = 3;

        private final Thread waiter;
        private final AtomicInteger state = new AtomicInteger(WAITING);

        HeadersWait(Thread waiter) {
            this.waiter = waiter;
        }

        /** The watch fired (on the timer thread). */
        @Override
        public void close() {
            if (state.compareAndSet(WAITING, INTERRUPTING)) {
                waiter.interrupt();
                state.set(INTERRUPTED);
            }
        }

        /**
         * Ends the wait, on the waiting thread: from here on the watch interrupts nothing.
         *
         * @return whether the watch fired; its interrupt is then cleared
         */
        boolean end(IdleTimeout.Watch watch) {
            watch.close();
            if (state.compareAndSet(WAITING, ENDED)) {
                return false;
            }
            while (state.get() != INTERRUPTED) {
                Thread.onSpinWait();
            }
            Thread.interrupted();
            return true;
        }
    }

    /** Why requests can no longer be sent, or null while they can. */
    public String brokenReason() {
        for (HttpClient client : clients.values()) {
            if (client.isTerminated()) {
                return "the HTTP client to the endpoints has stopped (its selector thread ended), so no request can be"
                        + " sent upstream";
            }
        }
        return null;
    }

    /**
     * Stops the HTTP clients at once (those of every client {@link #reconfigured} from this one too), as the end of
     * their selector thread does: requests in flight fail.
     */
    public void shutdownNow() {
        clients.values().forEach(HttpClient::shutdownNow);
    }

    private static ProxyException unavailable() {
        return ProxyException.of(503, "ServiceUnavailable", "This proxy can no longer send requests to Azure OpenAI"
                + " (its HTTP client stopped) and reports itself not live, to be restarted; send the request again,"
                + " to another replica if there is one.");
    }

    private void copyHeaders(Map<String, List<String>> clientHeaders, HttpRequest.Builder builder) {
        List<String> connection = clientHeaders.get("Connection");
        for (Map.Entry<String, List<String>> header : clientHeaders.entrySet()) {
            String name = header.getKey();
            if (!headerRules.toUpstream(name)
                    || ForwardedHeaders.namedByConnection(name.toLowerCase(Locale.ROOT), connection)) {
                continue;
            }
            for (String value : header.getValue()) {
                try {
                    builder.header(name, value);
                } catch (IllegalArgumentException e) {
                    throw ProxyException.of(400, "InvalidHeader",
                            "The request header '" + name + "' has a value that cannot be forwarded.");
                }
            }
        }
    }

    /**
     * Sends the request's trace context in place of the client's headers. The names are lower case, as the
     * OpenTelemetry agent's propagator writes them, so that under the agent its {@code traceparent} (with its client
     * span as the parent) replaces this one instead of being sent beside it.
     */
    private static void traceHeaders(TraceContext trace, HttpRequest.Builder builder) {
        if (trace == null) {
            return;
        }
        builder.header(TraceContext.TRACEPARENT, trace.traceparent());
        if (trace.tracestate() != null) {
            builder.header(TraceContext.TRACESTATE, trace.tracestate());
        }
    }

    /**
     * Sets the upstream credentials. A client that came with its own Entra ID token keeps it, also towards an
     * endpoint with a key: the proxy cannot validate such a token, so Azure must; swapping in the endpoint key
     * would let any bearer string through.
     */
    private void authenticate(Endpoint endpoint, UpstreamRequest request, HttpRequest.Builder builder) {
        if (request.passThroughToken() != null) {
            builder.header("Authorization", "Bearer " + request.passThroughToken());
        } else if (endpoint.hasKey()) {
            builder.header("api-key", endpoint.config().key());
        } else if (tokens != null) {
            builder.header("Authorization", "Bearer " + tokens.token());
        } else {
            throw new IllegalStateException("endpoint " + endpoint.name() + " has no key and no token source is set");
        }
    }

    /**
     * Ends the upstream connections: exchanges still running get {@link #CLOSE_WAIT} to end (the server's stop has
     * given its requests their grace already), then their connections are cut, so that a stop can never hang on an
     * answer nobody reads.
     */
    @Override
    public void close() {
        clients.values().forEach(HttpClient::shutdown);
        boolean interrupted = false;
        for (HttpClient client : clients.values()) {
            try {
                if (!client.awaitTermination(CLOSE_WAIT)) {
                    LOG.warn("upstream exchanges still open {} s after the stop: their connections are cut",
                            CLOSE_WAIT.toSeconds());
                    client.shutdownNow();
                }
            } catch (InterruptedException e) {
                client.shutdownNow();
                interrupted = true;
            }
        }
        executor.close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
