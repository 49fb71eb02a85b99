import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.LongAdder;

/**
 * A fast stand-in for Azure OpenAI, for the benchmark (bench/run.sh). No dependencies:
 *
 * <pre>java -Dsun.net.httpserver.nodelay=true bench/MockAzure.java --port 9001 [--port 9002] [--event-interval-ms 20]
 *     [--chunks 25] [--tickers 2]</pre>
 *
 * <p>{@code POST /openai/deployments/{d}/chat/completions} answers a ~700-byte chat.completion with usage; with
 * {@code "stream":true} in the body, an SSE stream as Azure sends it: prompt-filter chunk, role chunk, {@code --chunks}
 * content chunks {@code --event-interval-ms} apart, finish chunk, usage chunk (only with
 * {@code "include_usage":true}), {@code [DONE]}; flushed after every event. A request header
 * {@code x-bench-event-interval-ms} sets another gap for its stream; {@code x-bench-completion-bytes: N} makes a
 * non-streaming answer about N bytes long (a longer content, the same usage). {@code GET /stats} returns the counters
 * (requests, streams, events sent, and connections: the client ports seen so far, one per connection accepted, a lower
 * bound when the kernel reuses a port) as one line of JSON. Everything it sends is precomputed; the body is only searched
 * for those two flags. The content events of all streams are written by {@code --tickers} platform threads (0: a
 * sleeping virtual thread per stream instead, which costs about twice the CPU per event). It prints
 * "mock ready on port N" per port once listening.
 *
 * <p>For the benchmark's proxy variants it also plays the rest of Azure: {@code GET /msi/token} answers a managed
 * identity token as App Service's identity endpoint does (point {@code IDENTITY_ENDPOINT} at it), and with
 * {@code --ingest-port N --keystore P12 --keystore-password PW} an HTTPS server on port N takes Logs Ingestion API
 * uploads ({@code POST /dataCollectionRules/{id}/streams/{stream}}, gzip JSON arrays), answers 204 and counts their
 * rows and requests ({@code rows} and {@code uploads} in {@code /stats}). Each {@code --tls-port N} serves the same
 * API over HTTPS with that keystore's certificate, as Azure does.
 *
 * <p>{@code --tokens-per-window N [--window-s 60]} enforces a token rate limit as Azure OpenAI does (bench/headroom.sh):
 * each chat request costs its {@code max_tokens} plus a quarter of its body's bytes (Azure counts the prompt and the
 * completion bound when it admits a request), admitted while the costs admitted in the last {@code --window-s} seconds
 * (a sliding window) leave room for it; its answer says what is left in {@code x-ratelimit-remaining-tokens} and
 * {@code x-ratelimit-remaining-requests}, and a request that does not fit gets 429 with {@code retry-after-ms} and
 * {@code retry-after} set to when enough will have left the window. {@code /stats} then also counts
 * {@code throttled} (429s answered) and {@code admitted}.
 */
public final class MockAzure {

    private static final byte[] STREAM_FLAG = bytes("\"stream\":true");
    private static final byte[] STREAM_FLAG_SPACED = bytes("\"stream\": true");
    private static final byte[] USAGE_FLAG = bytes("\"include_usage\":true");
    private static final byte[] USAGE_FLAG_SPACED = bytes("\"include_usage\": true");
    private static final byte[] MAX_TOKENS = bytes("\"max_tokens\":");

    private static final String ID = "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012";
    private static final String MODEL = "gpt-4o-2024-08-06";
    private static final String FILTER = "{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},"
            + "\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},"
            + "\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}";
    private static final String[] WORDS = ("The quick brown fox jumps over the lazy dog while the proxy counts every"
            + " token that flows past it on the way to the client").split(" ");

    private final LongAdder requests = new LongAdder();
    private final LongAdder streams = new LongAdder();
    private final LongAdder events = new LongAdder();
    private final LongAdder rows = new LongAdder();
    private final LongAdder uploads = new LongAdder();
    private final LongAdder throttled = new LongAdder();
    private final LongAdder admitted = new LongAdder();
    private TokenWindow tokenWindow;
    /** Client ports of the connections seen so far: all clients are on this machine, one port per connection. */
    private final java.util.Set<Integer> clientPorts = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final byte[] completion;
    private final java.util.concurrent.ConcurrentHashMap<Integer, byte[]> largeCompletions =
            new java.util.concurrent.ConcurrentHashMap<>();
    private final byte[][] streamHead;
    private final byte[][] contentEvents;
    private final byte[][] streamTail;
    private final byte[] usageEvent;
    private final long intervalMs;
    private Ticker[] tickers;

    private MockAzure(int chunks, long intervalMs) {
        this.intervalMs = intervalMs;
        completion = completion("");
        String chunk = "data: {\"choices\":[{\"content_filter_results\":%s,\"delta\":%s,\"finish_reason\":%s,\"index\":0,"
                + "\"logprobs\":null}],\"created\":1732500000,\"id\":\"" + ID + "\",\"model\":\"" + MODEL + "\","
                + "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp_b705f0c291\"%s}\n\n";
        streamHead = new byte[][] {
            bytes("data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":"
                    + "[{\"prompt_index\":0,\"content_filter_results\":" + FILTER + "}]}\n\n"),
            bytes(chunk.formatted("{}", "{\"content\":\"\",\"refusal\":null,\"role\":\"assistant\"}", "null", "")),
        };
        contentEvents = new byte[chunks][];
        for (int i = 0; i < chunks; i++) {
            String word = (i == 0 ? "" : " ") + WORDS[i % WORDS.length];
            contentEvents[i] = bytes(chunk.formatted(FILTER, "{\"content\":\"" + word + "\"}", "null", ""));
        }
        streamTail = new byte[][] {bytes(chunk.formatted("{}", "{}", "\"stop\"", ""))};
        usageEvent = bytes("data: {\"choices\":[],\"created\":1732500000,\"id\":\"" + ID + "\",\"model\":\"" + MODEL + "\","
                + "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp_b705f0c291\",\"usage\":{"
                + "\"completion_tokens\":" + chunks + ",\"prompt_tokens\":31,\"total_tokens\":" + (31 + chunks) + "}}\n\n");
    }

    private static byte[] completion(String padding) {
        return bytes("{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,"
                + "\"logprobs\":null,\"message\":{\"content\":\"Hello! The proxy in front of me forwarded your request,"
                + " counted its tokens and logged the usage. How can I help you today?" + padding + "\",\"refusal\":null,"
                + "\"role\":\"assistant\"}}],\"created\":1732500000,\"id\":\"" + ID + "\",\"model\":\"" + MODEL + "\","
                + "\"object\":\"chat.completion\",\"prompt_filter_results\":[{\"prompt_index\":0,"
                + "\"content_filter_results\":" + FILTER + "}],\"system_fingerprint\":\"fp_b705f0c291\","
                + "\"usage\":{\"completion_tokens\":27,\"prompt_tokens\":31,\"total_tokens\":58}}");
    }

    /** A chat.completion of about {@code size} bytes, made once per size. */
    private byte[] completionOfSize(int size) {
        return largeCompletions.computeIfAbsent(size, n -> {
            StringBuilder padding = new StringBuilder();
            while (completion.length + padding.length() < n) {
                padding.append(" And so on.");
            }
            return completion(padding.toString());
        });
    }

    public static void main(String[] args) throws IOException {
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
        if (System.getProperty("sun.net.httpserver.maxIdleConnections") == null) {
            System.setProperty("sun.net.httpserver.maxIdleConnections", "20000");
        }
        List<Integer> ports = new ArrayList<>();
        long interval = 20;
        int chunks = 25;
        int tickerThreads = 2;
        String host = "127.0.0.1";
        int ingestPort = -1;
        List<Integer> tlsPorts = new ArrayList<>();
        String keystore = null;
        String keystorePassword = null;
        long tokensPerWindow = 0;
        double windowSeconds = 60;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> ports.add(Integer.parseInt(args[++i]));
                case "--event-interval-ms" -> interval = Long.parseLong(args[++i]);
                case "--chunks" -> chunks = Integer.parseInt(args[++i]);
                case "--host" -> host = args[++i];
                case "--tickers" -> tickerThreads = Integer.parseInt(args[++i]);
                case "--ingest-port" -> ingestPort = Integer.parseInt(args[++i]);
                case "--tls-port" -> tlsPorts.add(Integer.parseInt(args[++i]));
                case "--keystore" -> keystore = args[++i];
                case "--keystore-password" -> keystorePassword = args[++i];
                case "--tokens-per-window" -> tokensPerWindow = Long.parseLong(args[++i]);
                case "--window-s" -> windowSeconds = Double.parseDouble(args[++i]);
                default -> {
                    System.err.println("usage: java bench/MockAzure.java --port N [--port M] [--event-interval-ms 20]"
                            + " [--chunks 25] [--tickers 2] [--host 127.0.0.1]"
                            + " [--ingest-port N] [--tls-port N] [--keystore P12 --keystore-password PW]"
                            + " [--tokens-per-window N [--window-s 60]]");
                    System.exit(2);
                }
            }
        }
        if (ports.isEmpty()) {
            ports.add(9001);
        }
        MockAzure mock = new MockAzure(chunks, interval);
        if (tokensPerWindow > 0) {
            mock.tokenWindow = new TokenWindow(tokensPerWindow, (long) (windowSeconds * 1000));
        }
        if (tickerThreads > 0 && chunks > 0) {
            mock.tickers = new Ticker[tickerThreads];
            for (int t = 0; t < tickerThreads; t++) {
                mock.tickers[t] = mock.new Ticker(t);
            }
        }
        var executor = Executors.newVirtualThreadPerTaskExecutor();
        for (int port : ports) {
            HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 8192);
            server.setExecutor(executor);
            server.createContext("/", mock::handle);
            server.start();
            System.out.println("mock ready on port " + server.getAddress().getPort() + " (chunks " + chunks
                    + ", event interval " + interval + " ms, completion " + mock.completion.length + " bytes)");
        }
        if ((ingestPort >= 0 || !tlsPorts.isEmpty()) && (keystore == null || keystorePassword == null)) {
            System.err.println("--ingest-port and --tls-port need --keystore and --keystore-password");
            System.exit(2);
        }
        for (int port : tlsPorts) {
            com.sun.net.httpserver.HttpsServer https = com.sun.net.httpserver.HttpsServer.create(
                    new InetSocketAddress(host, port), 8192);
            https.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(
                    sslContext(keystore, keystorePassword.toCharArray())));
            https.setExecutor(executor);
            https.createContext("/", mock::handle);
            https.start();
            System.out.println("mock tls ready on port " + https.getAddress().getPort());
        }
        if (ingestPort >= 0) {
            com.sun.net.httpserver.HttpsServer https = com.sun.net.httpserver.HttpsServer.create(
                    new InetSocketAddress(host, ingestPort), 1024);
            https.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(
                    sslContext(keystore, keystorePassword.toCharArray())));
            https.setExecutor(executor);
            https.createContext("/", mock::handle);
            https.start();
            System.out.println("mock ingestion ready on port " + https.getAddress().getPort());
        }
    }

    private static javax.net.ssl.SSLContext sslContext(String keystore, char[] password) throws IOException {
        try (InputStream in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(keystore))) {
            java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
            store.load(in, password);
            javax.net.ssl.KeyManagerFactory keys = javax.net.ssl.KeyManagerFactory.getInstance(
                    javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, password);
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(keys.getKeyManagers(), null, null);
            return context;
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("cannot use the keystore " + keystore + ": " + e, e);
        }
    }

    private void handle(HttpExchange http) throws IOException {
        boolean handedOver = false;
        try {
            String path = http.getRequestURI().getRawPath();
            if (path.equals("/stats")) {
                send(http, 200, bytes("{\"requests\":" + requests.sum() + ",\"streams\":" + streams.sum()
                        + ",\"events\":" + events.sum() + ",\"rows\":" + rows.sum() + ",\"uploads\":" + uploads.sum()
                        + ",\"connections\":" + clientPorts.size() + ",\"throttled\":" + throttled.sum()
                        + ",\"admitted\":" + admitted.sum() + "}\n"));
                return;
            }
            clientPorts.add(http.getRemoteAddress().getPort());
            if (path.equals("/msi/token")) {
                long expiresOn = System.currentTimeMillis() / 1000 + 3600;
                send(http, 200, bytes("{\"access_token\":\"bench-managed-identity-token\",\"expires_on\":\""
                        + expiresOn + "\",\"resource\":\"https://monitor.azure.com\",\"token_type\":\"Bearer\"}"));
                return;
            }
            byte[] body;
            try (InputStream in = http.getRequestBody()) {
                body = in.readAllBytes();
            }
            if (path.startsWith("/dataCollectionRules/")) {
                ingest(http, body);
                return;
            }
            requests.increment();
            if (!"POST".equals(http.getRequestMethod()) || !path.startsWith("/openai/deployments/")
                    || !path.endsWith("/chat/completions")) {
                send(http, 404, bytes("{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}"));
                return;
            }
            Headers headers = http.getResponseHeaders();
            headers.set("x-ms-region", "Sweden Central");
            headers.set("apim-request-id", "8a0d7a7e-3b1c-4d2e-9f00-0123456789ab");
            headers.set("x-ratelimit-remaining-requests", "9999");
            headers.set("x-ratelimit-remaining-tokens", "999000");
            if (tokenWindow != null) {
                long cost = maxTokens(body) + body.length / 4;
                long[] verdict = tokenWindow.admit(cost, System.nanoTime() / 1_000_000);
                headers.set("x-ratelimit-remaining-tokens", Long.toString(verdict[1]));
                if (verdict[0] > 0) {
                    throttled.increment();
                    headers.set("retry-after-ms", Long.toString(verdict[0]));
                    headers.set("retry-after", Long.toString((verdict[0] + 999) / 1000));
                    send(http, 429, bytes("{\"error\":{\"code\":\"429\",\"message\":\"Requests to the"
                            + " ChatCompletions_Create Operation have exceeded the token rate limit of your current"
                            + " pricing tier. Please retry after " + ((verdict[0] + 999) / 1000) + " seconds.\"}}"));
                    return;
                }
                admitted.increment();
            }
            if (indexOf(body, STREAM_FLAG) >= 0 || indexOf(body, STREAM_FLAG_SPACED) >= 0) {
                String gap = http.getRequestHeaders().getFirst("x-bench-event-interval-ms");
                stream(http, indexOf(body, USAGE_FLAG) >= 0 || indexOf(body, USAGE_FLAG_SPACED) >= 0,
                        gap == null ? intervalMs : Long.parseLong(gap.trim()));
                handedOver = tickers != null;
            } else {
                String size = http.getRequestHeaders().getFirst("x-bench-completion-bytes");
                byte[] answer = size == null ? completion : completionOfSize(Integer.parseInt(size.trim()));
                headers.set("Content-Type", "application/json");
                http.sendResponseHeaders(200, answer.length);
                try (OutputStream out = http.getResponseBody()) {
                    out.write(answer);
                }
            }
        } finally {
            if (!handedOver) {
                http.close();
            }
        }
    }

    /** The body's {@code "max_tokens":N}, or 16 (the API's default) when it has none. */
    private static long maxTokens(byte[] body) {
        int at = indexOf(body, MAX_TOKENS);
        if (at < 0) {
            return 16;
        }
        long n = 0;
        for (int i = at + MAX_TOKENS.length; i < body.length; i++) {
            byte b = body[i];
            if (b >= '0' && b <= '9') {
                n = n * 10 + (b - '0');
            } else if (b != ' ' || n > 0) {
                break;
            }
        }
        return n;
    }

    /**
     * Azure's token rate limit: the costs admitted within the last window (a sliding one), kept in arrival order.
     * One lock: the bench sends a few hundred requests per second here at most.
     */
    private static final class TokenWindow {
        private final long limit;
        private final long windowMs;
        private final java.util.ArrayDeque<long[]> admitted = new java.util.ArrayDeque<>();
        private final java.util.concurrent.locks.ReentrantLock lock = new java.util.concurrent.locks.ReentrantLock();
        private long sum;

        TokenWindow(long limit, long windowMs) {
            this.limit = limit;
            this.windowMs = windowMs;
        }

        /** {retry-after ms (0: admitted), tokens remaining after it}. */
        long[] admit(long cost, long now) {
            lock.lock();
            try {
                while (!admitted.isEmpty() && admitted.peekFirst()[0] <= now - windowMs) {
                    sum -= admitted.pollFirst()[1];
                }
                if (sum + cost <= limit) {
                    admitted.addLast(new long[] {now, cost});
                    sum += cost;
                    return new long[] {0, limit - sum};
                }
                // When enough of the oldest costs will have left the window for this one to fit.
                long freed = limit - sum;
                long wait = windowMs;
                for (long[] entry : admitted) {
                    freed += entry[1];
                    if (freed >= cost) {
                        wait = entry[0] + windowMs - now;
                        break;
                    }
                }
                return new long[] {Math.max(1, wait), Math.max(0, limit - sum)};
            } finally {
                lock.unlock();
            }
        }
    }

    /** A Logs Ingestion upload: a gzip JSON array of flat row objects; each row is one '{'. */
    private void ingest(HttpExchange http, byte[] body) throws IOException {
        String encoding = http.getRequestHeaders().getFirst("Content-Encoding");
        byte[] json = "gzip".equalsIgnoreCase(encoding)
                ? new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(body)).readAllBytes()
                : body;
        int count = 0;
        for (byte b : json) {
            if (b == '{') {
                count++;
            }
        }
        rows.add(count);
        uploads.increment();
        http.sendResponseHeaders(204, -1);
    }

    private void stream(HttpExchange http, boolean includeUsage, long interval) throws IOException {
        streams.increment();
        http.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        http.getResponseHeaders().set("Cache-Control", "no-cache");
        http.sendResponseHeaders(200, 0);
        OutputStream out = http.getResponseBody();
        for (byte[] event : streamHead) {
            emit(out, event);
        }
        if (tickers == null) {
            // One virtual thread per stream, sleeping between events.
            for (byte[] event : contentEvents) {
                pause(interval);
                emit(out, event);
            }
            finish(out, includeUsage);
            return;
        }
        // The ticker threads write the content events and close the exchange; this handler returns at once.
        Ticker ticker = tickers[(int) (streams.sum() % tickers.length)];
        ticker.add(new Stream(http, out, includeUsage, interval, System.nanoTime() + interval * 1_000_000L));
    }

    private void finish(OutputStream out, boolean includeUsage) throws IOException {
        for (byte[] event : streamTail) {
            emit(out, event);
        }
        if (includeUsage) {
            emit(out, usageEvent);
        }
        emit(out, DONE);
        out.close();
    }

    /** A stream in progress: the next content event to send and when. */
    private static final class Stream {
        final HttpExchange http;
        final OutputStream out;
        final boolean includeUsage;
        final long intervalMs;
        long due;
        int next;

        Stream(HttpExchange http, OutputStream out, boolean includeUsage, long intervalMs, long due) {
            this.http = http;
            this.out = out;
            this.includeUsage = includeUsage;
            this.intervalMs = intervalMs;
            this.due = due;
        }
    }

    /**
     * A platform thread that sends the due content events of its streams, each with its own write and flush. Far
     * cheaper than a sleeping virtual thread per stream: no timer and no wake-up per event, only the write.
     */
    private final class Ticker implements Runnable {
        private final java.util.PriorityQueue<Stream> queue = new java.util.PriorityQueue<>(
                (a, b) -> Long.compare(a.due, b.due));
        private final Thread thread;

        Ticker(int n) {
            thread = Thread.ofPlatform().daemon().name("mock-ticker-" + n).start(this);
        }

        void add(Stream s) {
            boolean first;
            synchronized (queue) {
                queue.add(s);
                first = queue.peek() == s;
            }
            if (first) {
                java.util.concurrent.locks.LockSupport.unpark(thread);
            }
        }

        @Override
        public void run() {
            while (true) {
                Stream s;
                long wait;
                synchronized (queue) {
                    s = queue.peek();
                    long now = System.nanoTime();
                    if (s != null && s.due <= now) {
                        queue.poll();
                        wait = 0;
                    } else {
                        wait = s == null ? 10_000_000L : s.due - now;
                        s = null;
                    }
                }
                if (s == null) {
                    java.util.concurrent.locks.LockSupport.parkNanos(wait);
                    continue;
                }
                try {
                    emit(s.out, contentEvents[s.next++]);
                    if (s.next < contentEvents.length) {
                        s.due += s.intervalMs * 1_000_000L;
                        synchronized (queue) {
                            queue.add(s);
                        }
                    } else {
                        finish(s.out, s.includeUsage);
                        s.http.close();
                    }
                } catch (IOException | RuntimeException e) {
                    s.http.close();
                }
            }
        }
    }

    private static final byte[] DONE = bytes("data: [DONE]\n\n");

    private void emit(OutputStream out, byte[] event) throws IOException {
        out.write(event);
        out.flush();
        events.increment();
    }

    private static void pause(long interval) {
        if (interval > 0) {
            try {
                Thread.sleep(interval);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void send(HttpExchange http, int status, byte[] body) throws IOException {
        http.getResponseHeaders().set("Content-Type", "application/json");
        http.sendResponseHeaders(status, body.length);
        try (OutputStream out = http.getResponseBody()) {
            out.write(body);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0, last = haystack.length - needle.length; i <= last; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
