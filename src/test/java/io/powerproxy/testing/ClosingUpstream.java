package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * An upstream that reads a request's headers, never its body, and then answers in part or not at all and closes, as
 * a server does that refuses oversized headers ({@code 431}) or crashes. WireMock always reads the whole request, so
 * it cannot play this faulty upstream.
 */
public final class ClosingUpstream implements AutoCloseable {

    /** The answer's body; 61 bytes. */
    public static final String BODY = "<html><body>431 Request Header Fields Too Large</body></html>";

    /** What the upstream does once it has the request headers. */
    public enum Behaviour {
        /** Writes a complete {@code 431} answer with {@code Connection: close}, then closes. */
        ANSWER_431_AND_CLOSE,
        /** Writes the status line and headers of a {@code 431} answer, none of its body, then closes. */
        HEADERS_ONLY_AND_CLOSE,
        /**
         * Reads the request body, writes the status line, headers and the first 10 bytes of the body of a {@code 431}
         * answer, then closes.
         */
        PART_OF_THE_BODY_AND_CLOSE,
        /** Closes the connection without writing anything. */
        CLOSE_SILENTLY,
        /** Resets the connection without writing anything. */
        RESET
    }

    private final ServerSocket server;

    private ClosingUpstream(ServerSocket server) {
        this.server = server;
    }

    /** Starts the upstream on a free loopback port. */
    public static ClosingUpstream start(Behaviour behaviour) throws IOException {
        ServerSocket server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try {
                    Socket socket = server.accept();
                    Thread.ofVirtual().start(() -> serve(socket, behaviour));
                } catch (IOException closed) {
                    return;
                }
            }
        });
        return new ClosingUpstream(server);
    }

    private static void serve(Socket socket, Behaviour behaviour) {
        try (socket) {
            String request = RawHttp.readHead(socket.getInputStream());
            if (request == null) {
                return;
            }
            if (behaviour == Behaviour.PART_OF_THE_BODY_AND_CLOSE) {
                // Read to the end, so that closing sends no reset that could overtake the answer's first bytes.
                socket.getInputStream().readNBytes(RawHttp.contentLength(request));
            }
            String head = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/html\r\nContent-Length: "
                    + BODY.length() + "\r\nConnection: close\r\n\r\n";
            OutputStream out = socket.getOutputStream();
            switch (behaviour) {
                case ANSWER_431_AND_CLOSE -> out.write((head + BODY).getBytes(US_ASCII));
                case HEADERS_ONLY_AND_CLOSE -> out.write(head.getBytes(US_ASCII));
                case PART_OF_THE_BODY_AND_CLOSE -> out.write((head + BODY.substring(0, 10)).getBytes(US_ASCII));
                case CLOSE_SILENTLY -> {
                }
                case RESET -> socket.setSoLinger(true, 0);
            }
            out.flush();
        } catch (IOException e) {
            // The proxy hung up first: nothing to do.
        }
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
