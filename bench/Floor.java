import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The floor of the benchmark (bench/run.sh): the least a relay built from the proxy's JDK classes costs here, so that
 * the proxy's figures can be read as a multiple of it. No dependencies, no plugins, no parsing:
 *
 * <pre>java Floor --port 9100 --upstream http://127.0.0.1:9001</pre>
 *
 * <p>A {@code com.sun.net.httpserver.HttpServer} on virtual threads (one per request, backlog 1024, TCP_NODELAY, a
 * keep-alive pool as large as the proxy's) in front of one {@code java.net.http.HttpClient} (HTTP/1.1 to an http
 * upstream, HTTP/2 offered to an https one, as the proxy does; trust an https upstream's certificate with
 * {@code -Djavax.net.ssl.trustStore=...}). Each request: the body read whole, the headers copied but the hop-by-hop
 * ones, the answer's status and headers copied, its body copied as it comes and flushed whenever the upstream has
 * nothing more yet (so SSE events pass at once). It prints "floor ready on port N" once listening.
 */
public final class Floor {

    /** Headers the JDK client sets itself or refuses, and hop-by-hop ones. */
    private static final Set<String> NOT_FORWARDED = Set.of("connection", "content-length", "expect", "host",
            "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "http2-settings");

    private final HttpClient client;
    private final String upstream;

    private Floor(HttpClient client, String upstream) {
        this.client = client;
        this.upstream = upstream;
    }

    public static void main(String[] args) throws IOException {
        int port = 0;
        String upstream = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--upstream" -> upstream = args[++i].replaceAll("/+$", "");
                default -> {
                    System.err.println("usage: java Floor --port N --upstream http(s)://host:port");
                    System.exit(2);
                }
            }
        }
        if (upstream == null) {
            System.err.println("usage: java Floor --port N --upstream http(s)://host:port");
            System.exit(2);
        }
        // The server settings the proxy makes too (it also sets a read buffer and pool size, left at the JDK's here).
        System.setProperty("sun.net.httpserver.nodelay", "true");
        System.setProperty("sun.net.httpserver.maxIdleConnections", "10000");
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        HttpClient client = HttpClient.newBuilder()
                .version(upstream.startsWith("https:") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(executor)
                .build();
        Floor floor = new Floor(client, upstream);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024);
        server.setExecutor(executor);
        server.createContext("/", exchange -> {
            try (exchange) {
                floor.relay(exchange);
            }
        });
        server.start();
        System.out.println("floor ready on port " + server.getAddress().getPort() + " (upstream " + upstream + ")");
    }

    private void relay(HttpExchange exchange) throws IOException {
        byte[] body = exchange.getRequestBody().readAllBytes();
        URI uri = exchange.getRequestURI();
        String target = upstream + uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(target))
                .method(exchange.getRequestMethod(), body.length == 0
                        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        for (Map.Entry<String, List<String>> header : exchange.getRequestHeaders().entrySet()) {
            if (!NOT_FORWARDED.contains(header.getKey().toLowerCase(Locale.ROOT))) {
                for (String value : header.getValue()) {
                    request.header(header.getKey(), value);
                }
            }
        }
        HttpResponse<InputStream> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            exchange.sendResponseHeaders(502, -1);
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            exchange.sendResponseHeaders(503, -1);
            return;
        }
        Headers out = exchange.getResponseHeaders();
        response.headers().map().forEach((name, values) -> {
            if (!name.startsWith(":") && !NOT_FORWARDED.contains(name.toLowerCase(Locale.ROOT))) {
                out.put(name, values);
            }
        });
        long length = response.headers().firstValueAsLong("content-length").orElse(-1);
        try (InputStream in = response.body(); OutputStream to = exchange.getResponseBody()) {
            exchange.sendResponseHeaders(response.statusCode(), length == 0 ? -1 : Math.max(length, 0));
            byte[] buffer = new byte[8192];
            for (int n; (n = in.read(buffer)) > 0; ) {
                to.write(buffer, 0, n);
                if (in.available() == 0) {
                    to.flush();
                }
            }
        }
    }
}
