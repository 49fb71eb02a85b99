package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.BODY;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.CHAT;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.REQUEST_ID;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.TEAM_A_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.stubbing.StubMapping;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.HttpsWireMock;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A proxy process (the proxy's own main, in a child JVM) stopped with SIGTERM while Log Analytics is down leaves every
 * usage record in its spool, and the next start sends them all, once, in order.
 */
class LogUsageToLogAnalyticsShutdownTest {

    private static final String MANAGED_IDENTITY_TOKEN_PATH = "/msi/token";

    @TempDir
    Path dir;

    @Test
    void aSigtermWhileLogAnalyticsIsDownSpoolsEveryRecordAndTheNextStartSendsThemOnceInOrder() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            LogUsageToLogAnalyticsTest.stubTokenAndIngestion(azure);
            // The child gets its token as an App Service managed identity does, from IDENTITY_ENDPOINT: so it reaches
            // neither Entra ID nor IMDS.
            azure.server().stubFor(get(urlPathEqualTo(MANAGED_IDENTITY_TOKEN_PATH)).willReturn(okJson(
                    "{\"access_token\":\"" + LogUsageToLogAnalyticsTest.TOKEN + "\",\"expires_on\":\""
                            + (System.currentTimeMillis() / 1000 + 3600) + "\",\"resource\":\"https://monitor.azure.com\","
                            + "\"token_type\":\"Bearer\"}")));
            StubMapping outage = azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                    .willReturn(aResponse().withStatus(503)));
            Path logDir = dir.resolve("logs");
            String settings = """
                    extended_columns: true
                    batch_max_seconds: 0.1
                    retry_max_seconds: 1""";
            String yaml = LogUsageToLogAnalyticsTest.config(azure, logDir, settings);
            String childYaml = "user_assigned_managed_identity_client_id: mi-client-0000\n" + yaml
                    .replaceAll("(?m)^ +credential_(tenant_id|client_id|client_secret):.*\n", "");
            Path configFile = Files.writeString(dir.resolve("config.yaml"), childYaml);
            Path spoolDir = logDir.resolve("loganalytics-spool");

            Set<String> answered = ConcurrentHashMap.newKeySet();
            int exit = runUnderLoadAndSigterm(azure, configFile, answered);

            assertEquals(0, exit, "exit code after SIGTERM");
            assertTrue(answered.size() >= 100, "answered " + answered.size());
            List<String> spooled = LogUsageToLogAnalyticsTest.spooledIds(spoolDir);
            assertEquals(spooled.size(), new HashSet<>(spooled).size(), "no row spooled twice");
            List<String> missing = answered.stream().filter(id -> !spooled.contains(id)).toList();
            assertTrue(missing.isEmpty(), missing.size() + " answered requests have no spooled row");
            assertTrue(LogUsageToLogAnalyticsTest.deliveredIds(azure).isEmpty(), "nothing got through the outage");
            assertFalse(azure.server().findAll(postRequestedFor(urlPathMatching("/dataCollectionRules/.*"))).isEmpty(),
                    "the child, with its token, met the outage");

            azure.server().removeStub(outage);
            try (LogUsageToLogAnalytics next = LogUsageToLogAnalyticsTest.plugin(azure, yaml)) {
                Await.until("the spool is sent",
                        () -> LogUsageToLogAnalyticsTest.deliveredIds(azure).size() >= spooled.size());
                Await.until("the spool is emptied", () -> LogUsageToLogAnalyticsTest.spooledIds(spoolDir).isEmpty());
                Await.until("ready", () -> next.readinessProblem() == null);
            }
            assertEquals(spooled, LogUsageToLogAnalyticsTest.deliveredIds(azure), "every spooled row once, in order");
        }
    }

    /** Starts the proxy's main, loads it until 100 requests were answered, sends SIGTERM, returns its exit code. */
    private int runUnderLoadAndSigterm(HttpsWireMock azure, Path configFile, Set<String> answered) throws Exception {
        try (ChildProxy child = ChildProxy.start(configFile, List.of(
                        "-Djavax.net.ssl.trustStore=" + azure.trustStore(),
                        "-Djavax.net.ssl.trustStorePassword=" + HttpsWireMock.STORE_PASSWORD,
                        "-Djavax.net.ssl.trustStoreType=PKCS12"),
                Map.of("IDENTITY_ENDPOINT", azure.baseUrl() + MANAGED_IDENTITY_TOKEN_PATH,
                        "IDENTITY_HEADER", "identity-header-0000"))) {
            CountDownLatch someAnswered = new CountDownLatch(100);
            long loadEnds = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5)).build();
                    ExecutorService load = Executors.newVirtualThreadPerTaskExecutor()) {
                HttpRequest request = HttpRequest.newBuilder(child.uri(CHAT))
                        .timeout(Duration.ofSeconds(30))
                        .header("api-key", TEAM_A_KEY)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(BODY))
                        .build();
                for (int i = 0; i < 16; i++) {
                    load.submit(() -> {
                        for (int sent = 0; sent < 500 && System.nanoTime() < loadEnds && child.isAlive(); sent++) {
                            try {
                                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                                if (response.statusCode() == 200) {
                                    answered.add(response.headers().firstValue(REQUEST_ID).orElseThrow());
                                    someAnswered.countDown();
                                }
                            } catch (IOException refusedOrCut) {
                                // The proxy is going away.
                            }
                        }
                        return null;
                    });
                }
                assertTrue(someAnswered.await(30, TimeUnit.SECONDS), "the child answers\n" + child.tail());
                child.sigterm();
                int exit = child.awaitExit();
                String log = child.output();
                assertTrue(log.contains("stay spooled"), log);
                return exit;
            }
        }
    }
}
