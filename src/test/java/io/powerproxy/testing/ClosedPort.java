package io.powerproxy.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;

/**
 * A loopback port where every connection is refused, held for as long as the test needs it: a socket bound to it that
 * never listens, so no other socket (a WireMock or Redis of a parallel test, an outgoing connection) can take it.
 */
public final class ClosedPort implements AutoCloseable {

    private final Socket holder;

    private ClosedPort(Socket holder) {
        this.holder = holder;
    }

    public static ClosedPort hold() {
        Socket socket = new Socket();
        try {
            socket.setReuseAddress(false);
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return new ClosedPort(socket);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind a loopback port", e);
        }
    }

    public int port() {
        return holder.getLocalPort();
    }

    /** {@code http://127.0.0.1:port}. */
    public String url() {
        return "http://127.0.0.1:" + port();
    }

    @Override
    public void close() {
        try {
            holder.close();
        } catch (IOException e) {
            // Nothing was ever sent on it.
        }
    }
}
