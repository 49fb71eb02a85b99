package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that keep many connections open between requests find them still open. The proxy runs in a child JVM
 * through its own main: the test JVM's build sets the server's idle-pool property itself.
 */
class KeepAliveTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    /** More than the JDK HttpServer's default idle pool of 200, which closes the rest right after their answer. */
    private static final int CONNECTIONS = 300;

    @TempDir
    Path dir;

    @Test
    void threeHundredKeepAliveConnectionsEachServeASecondRequest() throws Exception {
        String yaml = Configs.withAoai("""
                mock_response:
                  json: {"id": "chatcmpl-1", "object": "chat.completion", "choices": [],
                         "usage": {"completion_tokens": 1, "prompt_tokens": 1, "total_tokens": 2}}
                """);
        try (ChildProxy proxy = ChildProxy.start(Files.writeString(dir.resolve("config.yaml"), yaml), List.of())) {
            List<Socket> sockets = new ArrayList<>();
            try {
                for (int i = 0; i < CONNECTIONS; i++) {
                    Socket socket = new Socket("127.0.0.1", proxy.port());
                    socket.setSoTimeout(10_000);
                    sockets.add(socket);
                }
                // All connections are idle at the same time between the two rounds.
                for (Socket socket : sockets) {
                    assertEquals(200, exchange(socket), "first request");
                }
                int secondRoundAnswered = 0;
                for (Socket socket : sockets) {
                    if (exchange(socket) == 200) {
                        secondRoundAnswered++;
                    }
                }
                assertEquals(CONNECTIONS, secondRoundAnswered, "connections that answered their second request");
            } finally {
                for (Socket socket : sockets) {
                    socket.close();
                }
            }
        }
    }

    /** Sends one keep-alive POST and reads its answer to the end; -1 when the connection was closed instead. */
    private static int exchange(Socket socket) throws IOException {
        byte[] body = BODY.getBytes(US_ASCII);
        String head = "POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: " + Configs.TEAM_A_KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        try {
            // One write: a second small one would wait for the delayed ACK of the first (Nagle).
            socket.getOutputStream().write((head + BODY).getBytes(US_ASCII));
        } catch (IOException closed) {
            return -1;
        }
        InputStream in = socket.getInputStream();
        String headers = RawHttp.readHead(in);
        if (headers == null) {
            return -1;
        }
        int length = RawHttp.contentLength(headers);
        assertTrue(length >= 0, "an answer with a Content-Length: " + headers);
        assertEquals(length, in.readNBytes(length).length);
        return Integer.parseInt(headers.substring(9, 12));
    }
}
