package io.powerproxy.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;

/**
 * A real {@code redis-server} process on a free loopback port, without persistence, for tests: plain, or with TLS and
 * a password as Azure Cache for Redis has (a certificate made with the {@code openssl} command for 127.0.0.1). It can
 * be killed (SIGKILL, as a crash) and restarted on the same port, and is stopped by {@link #close()}.
 */
public final class RedisServer implements AutoCloseable {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(10);

    private final Path directory;
    private final int port;
    private final String password;
    private final SSLSocketFactory sslSocketFactory;
    private Process process;
    private Socket reservation;

    private RedisServer(Path directory, int port, String password, SSLSocketFactory sslSocketFactory) {
        this.directory = directory;
        this.port = port;
        this.password = password;
        this.sslSocketFactory = sslSocketFactory;
    }

    /** A plain server (no TLS, no password). */
    public static RedisServer start() {
        return start(false, null);
    }

    /** A server that speaks only TLS and wants the password, as Azure Cache for Redis does. */
    public static RedisServer startTls(String password) {
        return start(true, password);
    }

    private static RedisServer start(boolean tls, String password) {
        try {
            Path directory = Files.createTempDirectory("redis-test-");
            SSLSocketFactory sslSocketFactory = tls ? makeCertificate(directory) : null;
            // The port is free when chosen but may be taken before redis-server binds it (another test's outgoing
            // connection can get it as its local port); then redis-server exits, and a new port is tried.
            for (int attempt = 1; ; attempt++) {
                RedisServer server = new RedisServer(directory, freePort(), password, sslSocketFactory);
                try {
                    server.launch();
                    return server;
                } catch (IllegalStateException e) {
                    if (attempt == 3 || server.process.isAlive()) {
                        throw e;
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int port() {
        return port;
    }

    /** Sockets that trust this server's certificate; null for a plain server. */
    public SSLSocketFactory sslSocketFactory() {
        return sslSocketFactory;
    }

    /** A new connection to the server (TLS and password as it needs); the caller closes it. */
    public Jedis client() {
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder().password(password)
                .timeoutMillis(5_000);
        if (sslSocketFactory != null) {
            SSLParameters parameters = new SSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            config.ssl(true).sslSocketFactory(sslSocketFactory).sslParameters(parameters);
        }
        return new Jedis(new HostAndPort("127.0.0.1", port), config.build());
    }

    /**
     * Kills the server with SIGKILL, as a crash would, and waits until it is gone. Its port stays reserved for
     * {@link #restart()}: a socket bound to it that does not listen refuses connections as a dead server does, and keeps
     * the kernel from handing the port to another socket meanwhile.
     */
    public void kill() {
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("redis-server on port " + port + " did not die within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        reservePort();
    }

    /**
     * Starts the server again on the same port, empty (it keeps nothing on disk). The port may still be taken for a
     * moment (a connection of the dead server closing, or another socket that got it before the reservation): then
     * redis-server exits at start and is started again, for up to {@code START_TIMEOUT}.
     */
    public void restart() {
        if (process.isAlive()) {
            kill();
        }
        releasePort();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (true) {
            try {
                launch();
                return;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (IllegalStateException e) {
                if (process.isAlive() || System.nanoTime() > deadline) {
                    throw e;
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
            }
        }
    }

    private void reservePort() {
        // Without SO_REUSEADDR no other socket can bind the port at all; with it (needed while connections of the dead
        // server linger in TIME_WAIT) the kernel still never picks the port for another socket's port 0 or connect.
        for (boolean reuse : new boolean[] {false, true}) {
            Socket holder = new Socket();
            try {
                holder.setReuseAddress(reuse);
                holder.bind(new InetSocketAddress("127.0.0.1", port));
                reservation = holder;
                return;
            } catch (IOException e) {
                closeQuietly(holder);
            }
        }
    }

    private void releasePort() {
        if (reservation != null) {
            closeQuietly(reservation);
            reservation = null;
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // Never connected.
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            kill();
        }
        releasePort();
        try (Stream<Path> files = Files.walk(directory)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            // A leftover temp folder does no harm.
        }
    }

    private void launch() throws IOException {
        List<String> command = new ArrayList<>(List.of("redis-server", "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", directory.toString()));
        if (sslSocketFactory != null) {
            command.addAll(List.of("--port", "0", "--tls-port", Integer.toString(port),
                    "--tls-cert-file", directory.resolve("cert.pem").toString(),
                    "--tls-key-file", directory.resolve("key.pem").toString(),
                    "--tls-ca-cert-file", directory.resolve("cert.pem").toString(),
                    "--tls-auth-clients", "no"));
        } else {
            command.addAll(List.of("--port", Integer.toString(port)));
        }
        if (password != null) {
            command.addAll(List.of("--requirepass", password));
        }
        Path log = directory.resolve("redis.log");
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new IOException("cannot run redis-server (is it installed? .ci/run installs it): " + e.getMessage(), e);
        }
        awaitPing(log);
    }

    private void awaitPing(Path log) throws IOException {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("redis-server on port " + port + " exited with " + process.exitValue()
                        + ": " + Files.readString(log, StandardCharsets.UTF_8));
            }
            try (Jedis jedis = client()) {
                if ("PONG".equals(jedis.ping())) {
                    return;
                }
            } catch (RuntimeException e) {
                last = e;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        process.destroyForcibly();
        throw new IllegalStateException("redis-server on port " + port + " did not answer PING within " + START_TIMEOUT
                + ": " + last + "\n" + Files.readString(log, StandardCharsets.UTF_8));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }

    /** Makes a self-signed certificate for 127.0.0.1 and localhost, and sockets that trust it. */
    private static SSLSocketFactory makeCertificate(Path directory) throws IOException {
        Process openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", directory.resolve("key.pem").toString(), "-out", directory.resolve("cert.pem").toString())
                .redirectErrorStream(true).start();
        try {
            String output = new String(openssl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (openssl.waitFor() != 0) {
                throw new IOException("openssl could not make a certificate: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        try (InputStream pem = Files.newInputStream(directory.resolve("cert.pem"))) {
            KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
            trusted.load(null, null);
            trusted.setCertificateEntry("redis", CertificateFactory.getInstance("X.509").generateCertificate(pem));
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trusted);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context.getSocketFactory();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot trust the test certificate: " + e.getMessage(), e);
        }
    }
}
