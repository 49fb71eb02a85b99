import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Load client for streaming chat (bench/run.sh): N concurrent SSE streams, each on its own keep-alive HTTP/1.1
 * connection, each starting the next stream as soon as the previous one ended, for the given time. Counts every
 * {@code data:} event and checks the count against what the mock sends.
 *
 * <pre>java -cp target/bench-classes StreamClient --port 8080 --streams 1000 --duration-s 10 --ramp-s 2 --expect-events 29
 *     [--threads 2] [--drain-s 30] [--host 127.0.0.1] [--event-interval-ms N (the mock's gap between events)]
 *     [--path /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21] [--keys a,b,c]</pre>
 *
 * <p>It is built for thousands of streams on few cores: raw non-blocking sockets on a few selector threads (no thread
 * per stream, no HTTP library), an incremental HTTP/1.1 parser (Content-Length, chunked, or until close). Connections
 * open spread over the ramp; streams that end after it count for streams/s. After the measured window no stream
 * starts; those still running get {@code --drain-s} to end, then they are cut and counted as unfinished. Prints one
 * line of {@code key=value}: streams/s, time to first event (from sending the request to the first {@code data:}
 * line) and stream duration percentiles in ms, events received, lost and extra, errors, non-2xx answers and unfinished
 * streams. Exits 1 if any stream failed, got a non-2xx answer, lost an event or did not finish, or if none completed.
 */
public final class StreamClient {

    static final String BODY = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant that answers"
            + " briefly.\"},{\"role\":\"user\",\"content\":\"Write one friendly sentence about reverse proxies in front of"
            + " Azure OpenAI.\"}],\"max_tokens\":200,\"temperature\":0.7,\"top_p\":0.95,\"stream\":true}";
    private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]".getBytes(StandardCharsets.US_ASCII);
    private static final long STALL_NANOS = 60_000_000_000L;
    private static long drainNanos = 30_000_000_000L;

    private final InetSocketAddress address;
    private final int expectEvents;
    private final byte[][] requests;
    private final long measureFrom;
    private final long deadline;

    private StreamClient(InetSocketAddress address, String host, String path, String[] keys, int expectEvents,
            long measureFrom, long deadline, String extraHeaders) {
        this.address = address;
        this.expectEvents = expectEvents;
        this.measureFrom = measureFrom;
        this.deadline = deadline;
        byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
        requests = new byte[keys.length][];
        for (int i = 0; i < keys.length; i++) {
            byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + address.getPort() + "\r\napi-key: " + keys[i]
                    + "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n" + extraHeaders
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            requests[i] = Arrays.copyOf(head, head.length + body.length);
            System.arraycopy(body, 0, requests[i], head.length, body.length);
        }
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 0;
        String path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
        String[] keys = {"bench-key-team-a-0123456789", "bench-key-team-b-0123456789", "bench-key-team-c-0123456789"};
        int streams = 100;
        int threads = 2;
        double durationS = 10;
        double rampS = 2;
        int expect = -1;
        String extraHeaders = "";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--path" -> path = args[++i];
                case "--keys" -> keys = args[++i].split(",");
                case "--streams" -> streams = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--duration-s" -> durationS = Double.parseDouble(args[++i]);
                case "--ramp-s" -> rampS = Double.parseDouble(args[++i]);
                case "--expect-events" -> expect = Integer.parseInt(args[++i]);
                case "--drain-s" -> drainNanos = (long) (Double.parseDouble(args[++i]) * 1e9);
                // Asks bench/MockAzure.java (through the proxy, which forwards the header) for this gap between events.
                case "--event-interval-ms" -> extraHeaders = "x-bench-event-interval-ms: " + Long.parseLong(args[++i]) + "\r\n";
                default -> usage("unknown option " + args[i]);
            }
        }
        if (port == 0 || expect < 0 || streams < 1 || threads < 1) {
            usage("--port and --expect-events are required");
        }
        long start = System.nanoTime();
        long ramp = (long) (rampS * 1e9);
        StreamClient client = new StreamClient(new InetSocketAddress(host, port), host, path, keys, expect, start + ramp,
                start + ramp + (long) (durationS * 1e9), extraHeaders);
        Worker[] workers = new Worker[Math.min(threads, streams)];
        for (int t = 0; t < workers.length; t++) {
            workers[t] = client.new Worker();
        }
        for (int i = 0; i < streams; i++) {
            workers[i % workers.length].conns.add(client.new Conn(i, start + ramp * i / streams));
        }
        Thread[] running = new Thread[workers.length];
        for (int t = 0; t < workers.length; t++) {
            running[t] = Thread.ofPlatform().name("stream-client-" + t).start(workers[t]);
        }
        for (Thread t : running) {
            t.join();
        }
        System.exit(client.report(workers, streams, durationS));
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: java -cp target/bench-classes StreamClient --port N --expect-events E [--streams 100] [--threads 2]"
                + " [--duration-s 10] [--ramp-s 2] [--drain-s 30] [--host H] [--path P] [--keys a,b,c]");
        System.exit(2);
    }

    private int report(Worker[] workers, int streams, double durationS) {
        long completed = 0;
        long inWindow = 0;
        long events = 0;
        long lost = 0;
        long extra = 0;
        long errors = 0;
        long non2xx = 0;
        long reconnects = 0;
        long unfinished = 0;
        boolean hung = false;
        Samples ttfb = new Samples();
        Samples dur = new Samples();
        Map<String, Long> kinds = new TreeMap<>();
        for (Worker w : workers) {
            completed += w.completed;
            inWindow += w.inWindow;
            events += w.events;
            lost += w.lost;
            extra += w.extra;
            errors += w.errors;
            non2xx += w.non2xx;
            reconnects += w.reconnects;
            unfinished += w.unfinished;
            hung |= w.hung;
            ttfb.addAll(w.ttfb);
            dur.addAll(w.duration);
            w.errorKinds.forEach((k, v) -> kinds.merge(k, v, Long::sum));
        }
        ttfb.sort();
        dur.sort();
        System.out.println("streams=" + streams + " completed=" + completed
                + " streams_per_s=" + String.format(Locale.ROOT, "%.1f", inWindow / durationS)
                + " ttfb_p50_ms=" + ms(ttfb.pct(50)) + " ttfb_p90_ms=" + ms(ttfb.pct(90)) + " ttfb_p99_ms=" + ms(ttfb.pct(99))
                + " duration_p50_ms=" + ms(dur.pct(50)) + " duration_p99_ms=" + ms(dur.pct(99))
                + " events=" + events + " events_lost=" + lost + " events_extra=" + extra + " errors=" + errors
                + " non2xx=" + non2xx + " reconnects=" + reconnects + " unfinished=" + unfinished + " hung=" + (hung ? 1 : 0));
        kinds.forEach((k, v) -> System.err.println("  error: " + v + " x " + k));
        return !hung && errors == 0 && non2xx == 0 && lost == 0 && extra == 0 && unfinished == 0 && completed > 0 ? 0 : 1;
    }

    private static String ms(long nanos) {
        return nanos < 0 ? "NaN" : String.format(Locale.ROOT, "%.2f", nanos / 1e6);
    }

    /** A growable array of nanosecond samples. */
    static final class Samples {
        long[] values = new long[1024];
        int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        void addAll(Samples other) {
            for (int i = 0; i < other.size; i++) {
                add(other.values[i]);
            }
        }

        void sort() {
            Arrays.sort(values, 0, size);
        }

        long pct(double p) {
            if (size == 0) {
                return -1;
            }
            int idx = (int) Math.ceil(p / 100.0 * size) - 1;
            return values[Math.max(0, Math.min(size - 1, idx))];
        }
    }

    /** One connection, carrying one stream after the other. */
    final class Conn extends ResponseFraming {
        final int id;
        final long startAt;
        SocketChannel channel;
        SelectionKey key;
        ByteBuffer pendingWrite;
        boolean reused;
        long lastActivity;
        // the response in progress
        boolean responseStarted;
        long sentAt;
        long firstEvent;
        int events;
        boolean done;
        boolean lineStart;
        int dataMatch;
        int doneMatch;

        Conn(int id, long startAt) {
            this.id = id;
            this.startAt = startAt;
        }

        void newResponse() {
            responseStarted = false;
            firstEvent = 0;
            events = 0;
            done = false;
            resetFraming();
            lineStart = true;
            dataMatch = 0;
            doneMatch = 0;
        }
    }

    /** One selector thread and its share of the connections. */
    final class Worker implements Runnable {
        final List<Conn> conns = new ArrayList<>();
        final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024);
        final byte[] bytes = new byte[64 * 1024];
        final Samples ttfb = new Samples();
        final Samples duration = new Samples();
        final Map<String, Long> errorKinds = new TreeMap<>();
        long completed;
        long inWindow;
        long events;
        long lost;
        long extra;
        long errors;
        long non2xx;
        long reconnects;
        long unfinished;
        boolean hung;
        int open;
        int nextToOpen;
        final List<Conn> retry = new ArrayList<>();
        final List<Long> retryAt = new ArrayList<>();
        Selector selector;

        @Override
        public void run() {
            try (Selector sel = Selector.open()) {
                selector = sel;
                loop();
            } catch (IOException e) {
                error("selector: " + e);
                hung = true;
            }
        }

        private void loop() throws IOException {
            long hardStop = deadline + drainNanos;
            long nextSweep = System.nanoTime() + 1_000_000_000L;
            while (true) {
                long now = System.nanoTime();
                while (nextToOpen < conns.size() && conns.get(nextToOpen).startAt <= now) {
                    Conn c = conns.get(nextToOpen++);
                    if (now < deadline) {
                        connect(c);
                    }
                }
                while (!retry.isEmpty() && retryAt.get(0) <= now) {
                    Conn c = retry.remove(0);
                    retryAt.remove(0);
                    if (now < deadline) {
                        connect(c);
                    }
                }
                if (nextToOpen == conns.size() && open == 0 && retry.isEmpty()) {
                    return;
                }
                if (now > hardStop) {
                    for (Conn c : conns) {
                        if (c.channel != null) {
                            unfinished++;
                            drop(c);
                        }
                    }
                    return;
                }
                long wait = nextToOpen < conns.size() ? conns.get(nextToOpen).startAt - now : 100_000_000L;
                selector.select(Math.max(1, Math.min(100, wait / 1_000_000)));
                now = System.nanoTime();
                var selected = selector.selectedKeys();
                for (SelectionKey k : selected) {
                    Conn c = (Conn) k.attachment();
                    try {
                        if (!k.isValid()) {
                            continue;
                        }
                        if (k.isConnectable()) {
                            c.channel.finishConnect();
                            c.lastActivity = now;
                            send(c, now);
                        } else if (k.isWritable()) {
                            flushWrite(c);
                        } else if (k.isReadable()) {
                            read(c, now);
                        }
                    } catch (IOException e) {
                        failed(c, e);
                    }
                }
                selected.clear();
                if (now >= nextSweep) {
                    nextSweep = now + 1_000_000_000L;
                    for (Conn c : conns) {
                        if (c.channel != null && now - c.lastActivity > STALL_NANOS) {
                            failed(c, new IOException("no data for 60 s"));
                        }
                    }
                }
            }
        }

        private void connect(Conn c) {
            try {
                c.channel = SocketChannel.open();
                c.channel.configureBlocking(false);
                c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                c.reused = false;
                c.lastActivity = System.nanoTime();
                open++;
                if (c.channel.connect(address)) {
                    c.key = c.channel.register(selector, SelectionKey.OP_READ, c);
                    send(c, System.nanoTime());
                } else {
                    c.key = c.channel.register(selector, SelectionKey.OP_CONNECT, c);
                }
            } catch (IOException e) {
                failed(c, e);
            }
        }

        private void send(Conn c, long now) throws IOException {
            c.newResponse();
            c.sentAt = now;
            c.pendingWrite = ByteBuffer.wrap(requests[c.id % requests.length]);
            flushWrite(c);
        }

        private void flushWrite(Conn c) throws IOException {
            c.channel.write(c.pendingWrite);
            c.key.interestOps(c.pendingWrite.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
        }

        private void read(Conn c, long now) throws IOException {
            buffer.clear();
            int n = c.channel.read(buffer);
            if (n < 0) {
                if (c.state == ResponseFraming.State.UNTIL_CLOSE) {
                    c.close = true;
                    finished(c, now);
                    return;
                }
                if (!c.responseStarted && c.reused) {
                    // The server closed an idle keep-alive connection as the request went out: retry on a new one.
                    reconnects++;
                    drop(c);
                    connect(c);
                    return;
                }
                throw new IOException("connection closed " + (c.responseStarted ? "inside the response" : "before the response"));
            }
            if (n == 0) {
                return;
            }
            c.responseStarted = true;
            c.lastActivity = now;
            buffer.flip();
            buffer.get(bytes, 0, n);
            parse(c, bytes, 0, n, now);
        }

        /** Feeds bytes to the connection's parser; finishes the response when its end is among them. */
        private void parse(Conn c, byte[] b, int from, int to, long now) throws IOException {
            int i = from;
            while (i < to) {
                switch (c.state) {
                    case STATUS, HEADERS, CHUNK_SIZE, CHUNK_END, TRAILERS -> {
                        if (c.lineByte(b[i++])) {
                            if (i < to) {
                                throw new IOException("bytes after the end of the response");
                            }
                            finished(c, now);
                            return;
                        }
                    }
                    case CHUNK_DATA, LENGTH -> {
                        int take = (int) Math.min(c.remaining, to - i);
                        scan(c, b, i, i + take, now);
                        i += take;
                        c.remaining -= take;
                        if (c.remaining == 0) {
                            if (c.state == ResponseFraming.State.LENGTH) {
                                if (i < to) {
                                    throw new IOException("bytes after the end of the response");
                                }
                                finished(c, now);
                                return;
                            }
                            c.state = ResponseFraming.State.CHUNK_END;
                        }
                    }
                    case UNTIL_CLOSE -> {
                        scan(c, b, i, to, now);
                        i = to;
                    }
                }
            }
        }

        /** Counts lines that start with "data:" and notes "data: [DONE]". */
        private void scan(Conn c, byte[] b, int from, int to, long now) {
            for (int i = from; i < to; i++) {
                byte x = b[i];
                if (x == '\n' || x == '\r') {
                    c.lineStart = true;
                    c.dataMatch = 0;
                    c.doneMatch = 0;
                    continue;
                }
                if (!c.lineStart) {
                    continue;
                }
                if (c.dataMatch >= 0) {
                    if (x == DATA[c.dataMatch]) {
                        if (++c.dataMatch == DATA.length) {
                            c.events++;
                            if (c.firstEvent == 0) {
                                c.firstEvent = now;
                            }
                            c.dataMatch = -1;
                        }
                    } else {
                        c.dataMatch = -1;
                    }
                }
                if (c.doneMatch >= 0) {
                    if (x == DONE[c.doneMatch]) {
                        if (++c.doneMatch == DONE.length) {
                            c.done = true;
                            c.doneMatch = -1;
                        }
                    } else {
                        c.doneMatch = -1;
                    }
                }
                if (c.dataMatch < 0 && c.doneMatch < 0) {
                    c.lineStart = false;
                }
            }
        }

        private void finished(Conn c, long now) throws IOException {
            events += c.events;
            if (c.status / 100 == 2) {
                countEvents(c);
                if (!c.done) {
                    error("stream ended without data: [DONE]");
                }
                completed++;
                if (now >= measureFrom && now <= deadline) {
                    inWindow++;
                }
                if (c.firstEvent > 0) {
                    ttfb.add(c.firstEvent - c.sentAt);
                }
                duration.add(now - c.sentAt);
            } else {
                non2xx++;
                errorKinds.merge("status " + c.status, 1L, Long::sum);
            }
            c.reused = true;
            if (c.close || now >= deadline) {
                drop(c);
                if (now < deadline) {
                    connect(c);
                }
            } else {
                send(c, now);
            }
        }

        private void countEvents(Conn c) {
            if (c.events < expectEvents) {
                lost += expectEvents - c.events;
            } else if (c.events > expectEvents) {
                extra += c.events - expectEvents;
            }
        }

        private void failed(Conn c, IOException e) {
            error(e.getClass().getSimpleName() + ": " + e.getMessage());
            if (c.responseStarted && (c.status == 0 || c.status / 100 == 2)) {
                events += c.events;
                countEvents(c);
            }
            drop(c);
            // Reconnect after a pause, so that a server that refuses connections is not hammered.
            retry.add(c);
            retryAt.add(System.nanoTime() + 100_000_000L);
        }

        private void drop(Conn c) {
            if (c.channel != null) {
                try {
                    c.channel.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
                c.channel = null;
                c.key = null;
                open--;
            }
        }

        private void error(String kind) {
            errors++;
            errorKinds.merge(kind, 1L, Long::sum);
        }
    }
}
