package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.ai.openai.OpenAIClient;
import com.azure.ai.openai.OpenAIClientBuilder;
import com.azure.ai.openai.models.ChatChoice;
import com.azure.ai.openai.models.ChatCompletions;
import com.azure.ai.openai.models.ChatCompletionsOptions;
import com.azure.ai.openai.models.ChatRequestUserMessage;
import com.azure.core.credential.AzureKeyCredential;
import com.azure.core.exception.HttpResponseException;
import com.azure.core.http.jdk.httpclient.JdkHttpClientBuilder;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.server.TlsFiles;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The listener with {@code --tls-cert}/{@code --tls-key}: the Azure SDK for Java's OpenAIClient with an
 * AzureKeyCredential chatting through it, TLS 1.2 and 1.3, a certificate renewed without restart, and the messages for
 * files that cannot be used. Certificates are made by openssl into a temporary folder.
 */
class HttpsListenerTest {

    private static final String MOCK_ANSWER = "Hello from PowerProxy's built-in mock";
    private static final String DEMO_KEY = "demo-key-team-1-change-me";
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    private ProxyServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.stop(Duration.ZERO);
        }
    }

    @Test
    void theAzureSdkWithAnAzureKeyCredentialChatsStreamsAndGets401ForAWrongKeyOverHttps() throws Exception {
        Pem pem = openssl("rsa", "first");
        start(pem);
        OpenAIClient client = openAi(pem, "https://localhost:" + server.port(), DEMO_KEY);

        ChatCompletions chat = client.getChatCompletions("gpt-4o", hello());
        assertTrue(chat.getChoices().get(0).getMessage().getContent().startsWith(MOCK_ANSWER),
                chat.getChoices().get(0).getMessage().getContent());

        // The mock streams the same answer in chunks: every one must arrive for the text to be whole again.
        StringBuilder streamed = new StringBuilder();
        int chunks = 0;
        for (ChatCompletions chunk : client.getChatCompletionsStream("gpt-4o", hello())) {
            chunks++;
            for (ChatChoice choice : chunk.getChoices()) {
                if (choice.getDelta() != null && choice.getDelta().getContent() != null) {
                    streamed.append(choice.getDelta().getContent());
                }
            }
        }
        assertEquals(chat.getChoices().get(0).getMessage().getContent(), streamed.toString());
        assertTrue(chunks > 1, "chunks: " + chunks);

        OpenAIClient wrongKey = openAi(pem, "https://localhost:" + server.port(), "not-a-key");
        HttpResponseException refused = assertThrows(HttpResponseException.class,
                () -> wrongKey.getChatCompletions("gpt-4o", hello()));
        assertEquals(401, refused.getResponse().getStatusCode());
        assertTrue(refused.getMessage().contains("\"error\""), refused.getMessage());
    }

    @Test
    void overPlainHttpTheAzureSdkRefusesToSendTheKeyWhichIsWhyTheListenerSpeaksTls() throws Exception {
        Pem pem = openssl("rsa", "first");
        OpenAIClient overHttp = openAi(pem, "http://127.0.0.1:9", DEMO_KEY);
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> overHttp.getChatCompletions("gpt-4o", hello()));
        assertTrue(refused.getMessage().contains("HTTPS"), refused.getMessage());
    }

    @Test
    void tls13IsNegotiatedByDefaultAndTls12StillWorks() throws Exception {
        Pem pem = openssl("ec", "first");
        start(pem);
        assertEquals("TLSv1.3", handshake(pem, "TLSv1.3").protocol());
        assertEquals("TLSv1.2", handshake(pem, "TLSv1.2").protocol());
    }

    @Test
    void aRenewedCertificateIsServedWithoutARestartAndUnusableFilesKeepTheOldOne() throws Exception {
        Pem first = openssl("rsa", "first");
        start(first);
        BigInteger firstSerial = handshake(first, "TLSv1.3").serial();

        try (CapturedLogs logs = CapturedLogs.start()) {
            Files.writeString(dir.resolve("first.key"), "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
            // The files are looked at during handshakes (at most once a second): shake hands until it has happened.
            waitFor(() -> handshake(first, "TLSv1.3") != null
                    && !logs.containing("cannot be used, keeping the previous certificate").isEmpty(), logs::lines);
            assertEquals(firstSerial, handshake(first, "TLSv1.3").serial());
        }

        Pem second = openssl("rsa", "second");
        // A rotation as Kubernetes and cert-manager do it: new files moved into place.
        Files.move(second.certificate(), first.certificate(), StandardCopyOption.REPLACE_EXISTING);
        Files.move(second.key(), first.key(), StandardCopyOption.REPLACE_EXISTING);
        Pem renewed = new Pem(first.certificate(), first.key(), second.serial());
        try (CapturedLogs logs = CapturedLogs.start()) {
            waitFor(() -> handshake(renewed, "TLSv1.3").serial().equals(second.serial()), logs::lines);
        }
        assertEquals(second.serial(), handshake(renewed, "TLSv1.3").serial());
    }

    @Test
    void anRsaKeyInPkcs1FormIsReadToo() throws Exception {
        Pem pem = openssl("rsa", "first");
        Path pkcs1 = dir.resolve("pkcs1.key");
        run("openssl", "rsa", "-in", pem.key().toString(), "-traditional", "-out", pkcs1.toString());
        assertTrue(Files.readString(pkcs1).startsWith("-----BEGIN RSA PRIVATE KEY-----"));
        start(new Pem(pem.certificate(), pkcs1, pem.serial()));
        assertEquals(pem.serial(), handshake(pem, "TLSv1.3").serial());
    }

    @Test
    void filesThatCannotBeUsedStopTheStartWithWhatToFix() throws Exception {
        Pem rsa = openssl("rsa", "first");
        Pem other = openssl("rsa", "second");
        assertStartRefused(new TlsFiles(rsa.certificate(), other.key()), "does not belong to the first certificate");
        assertStartRefused(new TlsFiles(dir.resolve("missing.pem"), rsa.key()), "cannot read the TLS files");
        Path encrypted = dir.resolve("encrypted.key");
        run("openssl", "pkcs8", "-topk8", "-in", rsa.key().toString(), "-out", encrypted.toString(),
                "-passout", "pass:secret");
        assertStartRefused(new TlsFiles(rsa.certificate(), encrypted), "is encrypted");
        Pem ec = openssl("ec", "third");
        Path sec1 = dir.resolve("sec1.key");
        run("openssl", "ec", "-in", ec.key().toString(), "-out", sec1.toString());
        assertStartRefused(new TlsFiles(ec.certificate(), sec1), "is a 'EC PRIVATE KEY'");
        assertStartRefused(new TlsFiles(rsa.key(), rsa.key()), "is not a PEM certificate chain");
    }

    @Test
    void onlyOneOfTlsCertAndTlsKeyIsAUsageError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = PowerProxy.run(new String[] {"--config-file", "config/demo.yaml", "--tls-cert", "cert.pem"},
                Map.of(), new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(PowerProxy.EXIT_USAGE, code);
        assertTrue(err.toString().contains("give both --tls-cert and --tls-key for HTTPS, or neither for HTTP"),
                err.toString());
    }

    private void assertStartRefused(TlsFiles files, String message) throws Exception {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> ProxyServer.start(
                demoConfig(), new InetSocketAddress("127.0.0.1", 0), null, Pipeline.of(List.of()), files));
        assertTrue(refused.getMessage().contains(message), refused.getMessage());
    }

    private record Pem(Path certificate, Path key, BigInteger serial) {
    }

    private record Handshake(String protocol, BigInteger serial) {
    }

    private Pem openssl(String type, String name) throws Exception {
        Path certificate = dir.resolve(name + ".crt");
        Path key = dir.resolve(name + ".key");
        List<String> command = new ArrayList<>(List.of("openssl", "req", "-x509", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", key.toString(), "-out", certificate.toString()));
        command.addAll(type.equals("ec") ? List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
                : List.of("-newkey", "rsa:2048"));
        run(command.toArray(String[]::new));
        try (InputStream in = Files.newInputStream(certificate)) {
            X509Certificate parsed = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            return new Pem(certificate, key, parsed.getSerialNumber());
        }
    }

    private static void run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] output = process.getInputStream().readAllBytes();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "openssl did not end");
        assertEquals(0, process.exitValue(), new String(output, StandardCharsets.UTF_8));
    }

    private static ProxyConfig demoConfig() throws Exception {
        return ConfigLoader.parse(Files.readString(Path.of("config/demo.yaml")));
    }

    private void start(Pem pem) throws Exception {
        ProxyConfig config = demoConfig();
        server = ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null,
                Pipeline.of(PowerProxy.pluginRegistry(Map.of()).createAll(config)),
                new TlsFiles(pem.certificate(), pem.key()));
    }

    private static SSLContext trusting(Pem pem) throws Exception {
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        try (InputStream in = Files.newInputStream(pem.certificate())) {
            trusted.setCertificateEntry("proxy", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    /** The Azure SDK's client as an application builds it, over the JDK HttpClient trusting the test certificate. */
    private static OpenAIClient openAi(Pem pem, String endpoint, String key) throws Exception {
        return new OpenAIClientBuilder()
                .endpoint(endpoint)
                .credential(new AzureKeyCredential(key))
                .httpClient(new JdkHttpClientBuilder(java.net.http.HttpClient.newBuilder().sslContext(trusting(pem)))
                        .responseTimeout(DEADLINE).build())
                .buildClient();
    }

    private static ChatCompletionsOptions hello() {
        return new ChatCompletionsOptions(List.of(new ChatRequestUserMessage("Hello")));
    }

    /** A fresh TLS connection (no session reuse) restricted to one protocol; what it negotiated and was shown. */
    private Handshake handshake(Pem trusted, String protocol) throws Exception {
        try (SSLSocket socket = (SSLSocket) trusting(trusted).getSocketFactory().createSocket("localhost", server.port())) {
            socket.setEnabledProtocols(new String[] {protocol});
            socket.setSoTimeout((int) DEADLINE.toMillis());
            socket.startHandshake();
            X509Certificate leaf = (X509Certificate) socket.getSession().getPeerCertificates()[0];
            return new Handshake(socket.getSession().getProtocol(), leaf.getSerialNumber());
        }
    }

    /**
     * Waits until the condition holds; an {@link IOException} counts as not yet (a client that does not trust the old
     * certificate fails until the swap), and a failure shows the captured log.
     */
    private static void waitFor(Await.Condition condition, Supplier<List<String>> log) {
        Await.until("the certificate files were looked at again", log, () -> {
            try {
                return condition.holds();
            } catch (IOException notYet) {
                return false;
            }
        });
    }
}
