import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Load client for non-streaming chat at a FIXED request rate (bench/run.sh), like wrk2: request i is due at
 * {@code start + i / rate}, and its latency is measured from that due time, not from when it was sent, so a server
 * that falls behind is charged for the queueing it causes (no coordinated omission).
 *
 * <pre>java -cp target/bench-classes LoadClient --port 8080 --rate 5000 [--connections 32] [--duration-s 10] [--warmup-s 2]
 *     [--host 127.0.0.1] [--path /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21] [--keys a,b,c]
 *     [--body-bytes N (a longer prompt, padded to about N bytes)] [--header "name: value" (repeatable)]</pre>
 *
 * <p>{@code --rate 0} is a closed loop instead (each connection sends its next request when the previous answer
 * arrived; latency from sending), a stand-in for wrk when wrk is not installed. Keep-alive HTTP/1.1 on raw
 * non-blocking sockets, all on one selector thread, so that the client itself costs little CPU: a due request goes out
 * on an idle connection, or waits for one (and that wait counts). Prints one line of {@code key=value}: requests and
 * requests/s in the measured window (after the warm-up), latency p50/p90/p99/p99.9/max in ms, errors and non-2xx
 * answers. Exits 1 if any request failed or got a non-2xx answer, or if none completed.
 */
public final class LoadClient {

    static final String BODY = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant that answers"
            + " briefly.\"},{\"role\":\"user\",\"content\":\"Write one friendly sentence about reverse proxies in front of"
            + " Azure OpenAI.\"}],\"max_tokens\":200,\"temperature\":0.7,\"top_p\":0.95,\"frequency_penalty\":0,"
            + "\"presence_penalty\":0,\"stream\":false}";

    private final InetSocketAddress address;
    private final byte[][] requests;
    private final double rate;
    private final long start;
    private final long measureFrom;
    private final long end;
    private final Selector selector;
    private final ArrayDeque<Conn> idle = new ArrayDeque<>();
    /** Due times of requests that found no idle connection yet. */
    private final ArrayDeque<Long> backlog = new ArrayDeque<>();
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024);
    private final byte[] bytes = new byte[64 * 1024];
    private final Map<String, Long> errorKinds = new TreeMap<>();
    private long[] samples = new long[1 << 16];
    private int sampleCount;
    private long measured;
    private long errors;
    private long non2xx;
    private long issued;
    private int busy;

    private LoadClient(InetSocketAddress address, String host, String path, String[] keys, double rate, long start,
            long measureFrom, long end, int bodyBytes, String extraHeaders) throws IOException {
        this.address = address;
        this.rate = rate;
        this.start = start;
        this.measureFrom = measureFrom;
        this.end = end;
        this.selector = Selector.open();
        byte[] body = body(bodyBytes).getBytes(StandardCharsets.UTF_8);
        requests = new byte[keys.length][];
        for (int i = 0; i < keys.length; i++) {
            byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + address.getPort() + "\r\napi-key: " + keys[i]
                    + "\r\nContent-Type: application/json\r\n" + extraHeaders + "Content-Length: " + body.length
                    + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
            requests[i] = Arrays.copyOf(head, head.length + body.length);
            System.arraycopy(body, 0, requests[i], head.length, body.length);
        }
    }

    /** The chat request, its user message padded with words to make the body about {@code bytes} long. */
    private static String body(int bytes) {
        String end = "Azure OpenAI.";
        StringBuilder pad = new StringBuilder();
        while (BODY.length() + pad.length() < bytes) {
            pad.append(" Please keep it short.");
        }
        return BODY.replace(end, end + pad);
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 0;
        String path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
        String[] keys = {"bench-key-team-a-0123456789", "bench-key-team-b-0123456789", "bench-key-team-c-0123456789"};
        double rate = -1;
        int connections = 32;
        double durationS = 10;
        double warmupS = 2;
        int bodyBytes = 0;
        StringBuilder extraHeaders = new StringBuilder();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--path" -> path = args[++i];
                case "--keys" -> keys = args[++i].split(",");
                case "--rate" -> rate = Double.parseDouble(args[++i]);
                case "--connections" -> connections = Integer.parseInt(args[++i]);
                case "--duration-s" -> durationS = Double.parseDouble(args[++i]);
                case "--warmup-s" -> warmupS = Double.parseDouble(args[++i]);
                case "--body-bytes" -> bodyBytes = Integer.parseInt(args[++i]);
                case "--header" -> extraHeaders.append(args[++i]).append("\r\n");
                default -> usage("unknown option " + args[i]);
            }
        }
        if (port == 0 || rate < 0 || connections < 1) {
            usage("--port and --rate are required");
        }
        long start = System.nanoTime() + 50_000_000L;
        long measureFrom = start + (long) (warmupS * 1e9);
        LoadClient client = new LoadClient(new InetSocketAddress(host, port), host, path, keys, rate, start, measureFrom,
                measureFrom + (long) (durationS * 1e9), bodyBytes, extraHeaders.toString());
        System.exit(client.run(connections, durationS));
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: java -cp target/bench-classes LoadClient --port N --rate R (0: closed loop) [--connections 32]"
                + " [--duration-s 10] [--warmup-s 2] [--host H] [--path P] [--keys a,b,c] [--body-bytes N]"
                + " [--header \"name: value\"]");
        System.exit(2);
    }

    private int run(int connections, double durationS) throws IOException {
        for (int i = 0; i < connections; i++) {
            Conn c = new Conn(i);
            if (connect(c)) {
                idle.add(c);
            }
        }
        long period = rate > 0 ? (long) (1e9 / rate) : 0;
        long hardStop = end + 30_000_000_000L;
        boolean hung = false;
        while (true) {
            long now = System.nanoTime();
            if (rate > 0) {
                // Every request that is due by now: on an idle connection, else into the backlog.
                long due;
                while ((due = start + issued * period) <= now && due < end) {
                    issued++;
                    Conn c = idle.poll();
                    if (c != null) {
                        send(c, due, now);
                    } else {
                        backlog.add(due);
                    }
                }
            } else if (now >= start && now < end) {
                Conn c;
                while ((c = idle.poll()) != null) {
                    send(c, now, now);
                }
            }
            boolean done = now >= end && busy == 0 && backlog.isEmpty();
            if (done) {
                break;
            }
            if (now > hardStop) {
                hung = true;
                break;
            }
            long wait;
            if (rate > 0 && start + issued * period < end) {
                wait = Math.max(0, start + issued * period - now);
            } else if (now < start) {
                wait = start - now;
            } else {
                wait = 10_000_000L;
            }
            if (wait < 50_000) {
                selector.selectNow();
            } else {
                selector.select(Math.max(1, wait / 1_000_000));
            }
            now = System.nanoTime();
            var keys = selector.selectedKeys();
            for (SelectionKey k : keys) {
                Conn c = (Conn) k.attachment();
                try {
                    if (k.isValid() && k.isWritable()) {
                        c.channel.write(c.pendingWrite);
                        if (!c.pendingWrite.hasRemaining()) {
                            k.interestOps(SelectionKey.OP_READ);
                        }
                    } else if (k.isValid() && k.isReadable()) {
                        read(c, now);
                    }
                } catch (IOException | RuntimeException e) {
                    failed(c, e, now);
                }
            }
            keys.clear();
        }
        Arrays.sort(samples, 0, sampleCount);
        System.out.println("requests=" + measured
                + " rps=" + String.format(Locale.ROOT, "%.1f", measured / durationS)
                + " target_rps=" + String.format(Locale.ROOT, "%.1f", rate)
                + " p50_ms=" + ms(pct(50)) + " p90_ms=" + ms(pct(90)) + " p99_ms=" + ms(pct(99))
                + " p999_ms=" + ms(pct(99.9)) + " max_ms=" + ms(sampleCount == 0 ? -1 : samples[sampleCount - 1])
                + " errors=" + errors + " non2xx=" + non2xx + " hung=" + (hung ? 1 : 0));
        errorKinds.forEach((kind, n) -> System.err.println("  error: " + n + " x " + kind));
        return !hung && errors == 0 && non2xx == 0 && measured > 0 ? 0 : 1;
    }

    private boolean connect(Conn c) {
        try {
            c.channel = SocketChannel.open();
            c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            c.channel.connect(address);
            c.channel.configureBlocking(false);
            c.key = c.channel.register(selector, 0, c);
            return true;
        } catch (IOException e) {
            error("connect: " + e);
            close(c);
            return false;
        }
    }

    private void send(Conn c, long due, long now) {
        c.due = due;
        c.reset();
        busy++;
        c.pendingWrite = ByteBuffer.wrap(requests[c.id % requests.length]);
        try {
            c.channel.write(c.pendingWrite);
            c.key.interestOps(c.pendingWrite.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
        } catch (IOException e) {
            failed(c, e, now);
        }
    }

    private void read(Conn c, long now) throws IOException {
        buffer.clear();
        int n = c.channel.read(buffer);
        if (n < 0) {
            if (c.state == ResponseFraming.State.UNTIL_CLOSE) {
                complete(c, now);
                close(c);
                reopen(c, now);
                return;
            }
            throw new IOException("connection closed " + (c.started ? "inside the response" : "before the response"));
        }
        if (n == 0) {
            return;
        }
        c.started = true;
        buffer.flip();
        buffer.get(bytes, 0, n);
        int i = 0;
        while (i < n) {
            switch (c.state) {
                case STATUS, HEADERS, CHUNK_SIZE, CHUNK_END, TRAILERS -> {
                    if (c.lineByte(bytes[i++])) {
                        finish(c, now);
                        return;
                    }
                }
                case CHUNK_DATA, LENGTH -> {
                    int take = (int) Math.min(c.remaining, n - i);
                    i += take;
                    c.remaining -= take;
                    if (c.remaining == 0) {
                        if (c.state == ResponseFraming.State.CHUNK_DATA) {
                            c.state = ResponseFraming.State.CHUNK_END;
                        } else {
                            finish(c, now);
                            return;
                        }
                    }
                }
                case UNTIL_CLOSE -> i = n;
            }
        }
    }

    private void finish(Conn c, long now) throws IOException {
        complete(c, now);
        if (c.close) {
            close(c);
            reopen(c, now);
        } else {
            next(c, now);
        }
    }

    /** Records a complete response. */
    private void complete(Conn c, long now) {
        busy--;
        if (c.status / 100 != 2) {
            non2xx++;
            errorKinds.merge("status " + c.status, 1L, Long::sum);
        }
        if (c.due >= measureFrom && c.due < end) {
            measured++;
            if (sampleCount == samples.length) {
                samples = Arrays.copyOf(samples, sampleCount * 2);
            }
            samples[sampleCount++] = now - c.due;
        }
    }

    /** The connection is free: the oldest waiting request goes out on it, or it waits for the next one. */
    private void next(Conn c, long now) {
        c.key.interestOps(0);
        Long waiting = backlog.poll();
        if (waiting != null) {
            send(c, waiting, now);
        } else if (rate == 0 && now < end) {
            send(c, now, now);
        } else {
            idle.add(c);
        }
    }

    private void reopen(Conn c, long now) {
        if (connect(c)) {
            next(c, now);
        }
    }

    private void failed(Conn c, Exception e, long now) {
        error(e.getClass().getSimpleName() + ": " + e.getMessage());
        busy--;
        close(c);
        reopen(c, now);
    }

    private void error(String kind) {
        errors++;
        errorKinds.merge(kind, 1L, Long::sum);
    }

    private static void close(Conn c) {
        if (c.channel != null) {
            try {
                c.channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
            c.channel = null;
        }
    }

    private long pct(double p) {
        if (sampleCount == 0) {
            return -1;
        }
        int idx = (int) Math.ceil(p / 100.0 * sampleCount) - 1;
        return samples[Math.max(0, Math.min(sampleCount - 1, idx))];
    }

    private static String ms(long nanos) {
        return nanos < 0 ? "NaN" : String.format(Locale.ROOT, "%.2f", nanos / 1e6);
    }

    /** One keep-alive connection and the response in progress on it. */
    private static final class Conn extends ResponseFraming {
        final int id;
        SocketChannel channel;
        SelectionKey key;
        ByteBuffer pendingWrite;
        long due;
        boolean started;

        Conn(int id) {
            this.id = id;
        }

        void reset() {
            started = false;
            resetFraming();
        }
    }
}
