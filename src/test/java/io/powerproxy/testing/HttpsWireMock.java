package io.powerproxy.testing;

import com.azure.core.http.jdk.httpclient.JdkHttpClientBuilder;
import com.github.tomakehurst.wiremock.WireMockServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A WireMock server on HTTPS only, with a self-signed certificate for {@code localhost} and 127.0.0.1 made by
 * {@code keytool} once per JVM, on first use, into a temporary directory (no key material is kept in the repository),
 * and the clients that trust it: an {@link SSLContext}, an Azure SDK {@link com.azure.core.http.HttpClient}, and a PKCS12
 * trust store for {@code -Djavax.net.ssl.trustStore} in child processes.
 */
public final class HttpsWireMock implements AutoCloseable {

    /** The password of the generated key store and trust store. */
    public static final String STORE_PASSWORD = "changeit";
    private static final Duration KEYTOOL_TIMEOUT = Duration.ofSeconds(30);

    private final WireMockServer server;
    private final SSLContext sslContext;
    private final Path trustStore;

    private HttpsWireMock(WireMockServer server, SSLContext sslContext, Path trustStore) {
        this.server = server;
        this.sslContext = sslContext;
        this.trustStore = trustStore;
    }

    /** Starts the server on a free loopback port, with the certificate this JVM made for it. */
    public static HttpsWireMock start() {
        Certificate certificate = Certificate.MADE;
        WireMockServer server = new WireMockServer(WireMockUpstream.options()
                .httpDisabled(true)
                .dynamicHttpsPort()
                .keystorePath(certificate.keyStore().toString())
                .keystorePassword(STORE_PASSWORD)
                .keyManagerPassword(STORE_PASSWORD)
                .keystoreType("PKCS12"));
        server.start();
        return new HttpsWireMock(server, certificate.sslContext(), certificate.trustStore());
    }

    public WireMockServer server() {
        return server;
    }

    /** {@code https://localhost:<port>}: the host name the certificate names. */
    public String baseUrl() {
        return "https://localhost:" + server.httpsPort();
    }

    public SSLContext sslContext() {
        return sslContext;
    }

    /** A PKCS12 file that trusts only this server's certificate; its password is {@link #STORE_PASSWORD}. */
    public Path trustStore() {
        return trustStore;
    }

    /** A new Azure SDK HTTP client (the JDK HttpClient) that trusts this server. */
    public com.azure.core.http.HttpClient azureHttpClient() {
        return new JdkHttpClientBuilder(java.net.http.HttpClient.newBuilder().sslContext(sslContext))
                .connectionTimeout(Duration.ofSeconds(5))
                .responseTimeout(Duration.ofSeconds(10))
                .build();
    }

    @Override
    public void close() {
        server.stop();
    }

    /**
     * The key pair, certificate and trust of every HTTPS WireMock of this JVM, made on first use (keytool takes about a
     * second of CPU) into a temporary directory that is deleted when the JVM exits.
     */
    private record Certificate(Path keyStore, Path trustStore, SSLContext sslContext) {

        static final Certificate MADE = make();

        private static Certificate make() {
            try {
                Path directory = Files.createTempDirectory("https-wiremock-");
                directory.toFile().deleteOnExit();
                Path keyStore = directory.resolve("wiremock.p12");
                keyStore.toFile().deleteOnExit();
                keytool(keyStore);
                KeyStore trusted = KeyStore.getInstance("PKCS12");
                trusted.load(null, null);
                trusted.setCertificateEntry("wiremock", load(keyStore).getCertificate("wiremock"));
                Path trustStore = directory.resolve("wiremock-trust.p12");
                trustStore.toFile().deleteOnExit();
                try (OutputStream out = Files.newOutputStream(trustStore)) {
                    trusted.store(out, STORE_PASSWORD.toCharArray());
                }
                TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                trust.init(trusted);
                SSLContext sslContext = SSLContext.getInstance("TLS");
                sslContext.init(null, trust.getTrustManagers(), null);
                return new Certificate(keyStore, trustStore, sslContext);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("cannot set up TLS for WireMock", e);
            }
        }

        private static void keytool(Path keyStore) throws IOException {
            Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
            Process process = new ProcessBuilder(List.of(keytool.toString(), "-genkeypair", "-alias", "wiremock",
                    "-keyalg", "RSA", "-keysize", "2048", "-storetype", "PKCS12", "-keystore", keyStore.toString(),
                    "-storepass", STORE_PASSWORD, "-keypass", STORE_PASSWORD, "-dname", "CN=localhost",
                    "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2"))
                    .redirectErrorStream(true)
                    .start();
            try {
                if (!process.waitFor(KEYTOOL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly();
                    throw new IOException("keytool did not finish within " + KEYTOOL_TIMEOUT);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for keytool", e);
            }
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                throw new IOException("keytool failed (" + process.exitValue() + "): " + output);
            }
        }

        private static KeyStore load(Path file) throws IOException, GeneralSecurityException {
            KeyStore store = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(file)) {
                store.load(in, STORE_PASSWORD.toCharArray());
            }
            return store;
        }
    }
}
