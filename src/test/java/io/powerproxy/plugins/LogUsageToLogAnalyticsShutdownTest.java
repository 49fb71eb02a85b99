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
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.TEAM_A_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.stubbing.StubMapping;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.ChildLoad;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.HttpsWireMock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
            ChildLoad load = ChildLoad.start(child, child.uri(CHAT), TEAM_A_KEY, BODY, 16);
            int exit;
            try (load) {
                load.awaitAnswered(100);
                child.sigterm();
                exit = child.awaitExit();
            }
            String log = child.output();
            assertTrue(log.contains("stay spooled"), log);
            answered.addAll(load.answered());
            return exit;
        }
    }
}
