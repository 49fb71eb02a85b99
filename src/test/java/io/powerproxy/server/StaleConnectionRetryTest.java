package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A POST sent on a pooled connection that the upstream closes without a byte of an answer (its keep-alive ran out
 * just then) is sent again on a new connection, not answered 502. The proxy runs in a child JVM: the JDK client reads
 * its retry setting once per process.
 */
class StaleConnectionRetryTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String ANSWER = "{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
            + "\"total_tokens\":2}}";

    @TempDir
    Path dir;

    @Test
    void aPostOnAConnectionTheUpstreamClosedUnansweredIsSentAgainOnANewOne() throws Exception {
        AtomicInteger connections = new AtomicInteger();
        try (ServerSocket upstream = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> serve(upstream, connections));
            Path config = Files.writeString(dir.resolve("config.yaml"),
                    Configs.oneEndpoint("http://127.0.0.1:" + upstream.getLocalPort()));
            try (ChildProxy proxy = ChildProxy.start(config, List.of());
                    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
                HttpRequest request = HttpRequest.newBuilder(proxy.uri(CHAT))
                        .header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build();

                assertEquals(200, client.send(request, HttpResponse.BodyHandlers.ofString()).statusCode());
                HttpResponse<String> second = client.send(request, HttpResponse.BodyHandlers.ofString());

                assertEquals(200, second.statusCode(), second.body() + "\n" + proxy.tail());
                assertEquals(2, connections.get(), "the second request went out again on a new connection");
            }
        }
    }

    /** The first connection answers one request and closes on the next without a byte; later ones answer all. */
    private static void serve(ServerSocket listener, AtomicInteger connections) {
        while (!listener.isClosed()) {
            try {
                Socket socket = listener.accept();
                int number = connections.incrementAndGet();
                Thread.ofVirtual().start(() -> answer(socket, number == 1 ? 1 : Integer.MAX_VALUE));
            } catch (IOException closed) {
                return;
            }
        }
    }

    private static void answer(Socket socket, int requestsToAnswer) {
        try (socket) {
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            for (int answered = 0; ; answered++) {
                String head = RawHttp.readHead(in);
                if (head == null) {
                    return;
                }
                in.readNBytes(Math.max(0, RawHttp.contentLength(head)));
                if (answered == requestsToAnswer) {
                    return;
                }
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + ANSWER.length()
                        + "\r\n\r\n" + ANSWER).getBytes(UTF_8));
                out.flush();
            }
        } catch (IOException e) {
            // The proxy went away.
        }
    }
}
