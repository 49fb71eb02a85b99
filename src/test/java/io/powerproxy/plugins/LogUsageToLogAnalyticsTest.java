package io.powerproxy.plugins;

import io.powerproxy.loganalytics.LogAnalyticsRows;
import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.stubbing.Scenario;
import com.github.tomakehurst.wiremock.stubbing.ServeEvent;
import com.github.tomakehurst.wiremock.stubbing.StubMapping;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.HttpsWireMock;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.TestUsageRecord;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LogUsageToLogAnalytics against a real HTTPS server playing Entra ID and the Logs Ingestion API: the wire request,
 * batching under load, outages (spool, replay in order, restart), rejected rows, readiness, and no secret in any log.
 */
class LogUsageToLogAnalyticsTest {

    static final String TEAM_A_KEY = Configs.TEAM_A_KEY;
    static final String TEAM_B_KEY = Configs.TEAM_B_KEY;
    static final String SECRET = "sp-client-secret-never-shown-0123456789";
    static final String TOKEN = "la-access-token-from-entra-0123456789";
    static final String TENANT = "tenant-0000";
    static final String RULE = "dcr-00112233445566778899aabbccddeeff";
    static final String INGESTION_PATH = "/dataCollectionRules/" + RULE + "/streams/Custom-AzureOpenAIUsage_PP_CL";
    static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    static final String REQUEST_ID = "x-powerproxy-request-id";
    private static final ObjectMapper JSON = new ObjectMapper();

    static HttpsWireMock azure;
    private static CapturedLogs logs;

    @TempDir
    Path dir;

    @BeforeAll
    static void startAzure() {
        azure = HttpsWireMock.start();
        logs = CapturedLogs.start();
    }

    @AfterAll
    static void stopAzure() {
        logs.close();
        azure.close();
    }

    @BeforeEach
    void stubAzure() {
        stubTokenAndIngestion(azure);
    }

    @AfterEach
    void noSecretWasLogged() {
        for (String line : logs.lines()) {
            assertFalse(line.contains(SECRET), "the client secret was logged: " + line);
            assertFalse(line.contains(TOKEN), "the access token was logged: " + line);
        }
    }

    static void stubTokenAndIngestion(HttpsWireMock azure) {
        azure.server().resetAll();
        azure.server().stubFor(post(urlPathMatching("/[^/]+/oauth2/v2.0/token"))
                .willReturn(okJson("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
                        + "\"access_token\":\"" + TOKEN + "\"}")));
        azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).willReturn(aResponse().withStatus(204)));
    }

    /** The config of a proxy on the mock upstream with two clients and this plugin, with more plugin settings. */
    static String config(HttpsWireMock azure, Path logDir, String moreSettings) {
        return Configs.pluginsOnMock("""
                - name: LogUsageToLogAnalytics
                  log_ingestion_endpoint: %s
                  data_collection_rule_id: %s
                  credential_tenant_id: %s
                  credential_client_id: client-0000
                  credential_client_secret: %s
                  log_dir: '%s'
                %s
                """.formatted(azure.baseUrl(), RULE, TENANT, SECRET, logDir, moreSettings.indent(2).stripTrailing()), 0);
    }

    /** The plugin as the proxy creates it, with the real credential wiring, trusting the test server. */
    static LogUsageToLogAnalytics plugin(HttpsWireMock azure, String yaml) throws Exception {
        ProxyConfig config = ConfigLoader.parse(yaml);
        return LogUsageToLogAnalytics.create(new PluginContext(config.plugins().getFirst(), config),
                new LogUsageToLogAnalytics.AzureAccess(azure.azureHttpClient(), null, azure.baseUrl()));
    }

    @Test
    void aUsageRecordBecomesOneGzippedIngestionRequestWithATokenFromEntraIdAndTheOriginalsColumns() throws Exception {
        UsageRecord usage = TestUsageRecord.of("req-0001").received(Instant.parse("2026-11-25T10:15:30.123Z"))
                .streaming(true).tokens(8, 2).roundtripMs(412.5).region("Sweden Central")
                .deployment("gpt-4o", "gpt-4o-ptu").model("gpt-4o-2024-08-06").build();
        try (LogUsageToLogAnalytics plugin = plugin(azure, config(azure, dir, "batch_max_seconds: 0.1"))) {
            plugin.onUsage(null, usage);
            Await.until("one upload", () -> uploads().size() == 1);
        }

        LoggedRequest upload = uploads().getFirst().request();
        assertEquals(INGESTION_PATH, upload.getUrl().substring(0, upload.getUrl().indexOf('?')));
        assertEquals("2023-01-01", upload.queryParameter("api-version").firstValue());
        assertEquals("gzip", upload.getHeader("Content-Encoding"));
        assertTrue(upload.getHeader("Content-Type").startsWith("application/json"), upload.getHeader("Content-Type"));
        assertEquals("Bearer " + TOKEN, upload.getHeader("Authorization"));
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("RequestReceivedUtc", "2026-11-25T10:15:30.123Z");
        row.put("Client", "Team A");
        row.put("IsStreaming", true);
        row.put("PromptTokens", 8);
        row.put("CompletionTokens", 2);
        row.put("TotalTokens", 10);
        row.put("AoaiRoundtripTimeMS", 412.5);
        row.put("AoaiRegion", "Sweden Central");
        row.put("AoaiEndpoint", "Sweden");
        row.put("AoaiVirtualDeployment", "gpt-4o");
        row.put("AoaiStandinDeployment", "gpt-4o-ptu");
        row.put("AoaiApiVersion", "2024-10-21");
        assertEquals(JSON.valueToTree(List.of(row)), JSON.readTree(upload.getBodyAsString()));
        assertEquals(LogAnalyticsRows.COLUMNS, fieldNames(JSON.readTree(upload.getBodyAsString()).get(0)));

        List<LoggedRequest> tokenRequests = azure.server().findAll(
                postRequestedFor(urlPathEqualTo("/" + TENANT + "/oauth2/v2.0/token")));
        assertEquals(1, tokenRequests.size());
        String form = tokenRequests.getFirst().getBodyAsString();
        assertTrue(form.contains("grant_type=client_credentials"), form);
        assertTrue(form.contains("client_id=client-0000"), form);
        assertTrue(form.contains("monitor.azure.com"), form);
    }

    @Test
    void extendedColumnsAddStatusOperationModelUsageSourceAndRequestId() throws Exception {
        UsageRecord usage = TestUsageRecord.of("req-0002").received(Instant.parse("2026-11-25T10:15:30Z"))
                .client("Team \"B\", Ünicode").tokens(8, 0).roundtripMs(12).deployment(null, null).apiVersion(null)
                .status(499).operation(UsageRecord.Operation.EMBEDDINGS).model(null)
                .source(UsageRecord.UsageSource.ESTIMATED).build();
        try (LogUsageToLogAnalytics plugin = plugin(azure, config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.1"""))) {
            plugin.onUsage(null, usage);
            Await.until("one upload", () -> uploads().size() == 1);
        }

        JsonNode row = JSON.readTree(uploads().getFirst().request().getBodyAsString()).get(0);
        List<String> columns = new ArrayList<>(LogAnalyticsRows.COLUMNS);
        columns.addAll(LogAnalyticsRows.EXTENDED_COLUMNS);
        assertEquals(columns, fieldNames(row));
        assertEquals("Team \"B\", Ünicode", row.get("Client").asText());
        assertTrue(row.get("AoaiRegion").isNull());
        assertEquals(499, row.get("StatusCode").asInt());
        assertEquals("embeddings", row.get("Operation").asText());
        assertTrue(row.get("Model").isNull());
        assertEquals("estimated", row.get("UsageSource").asText());
        assertEquals("req-0002", row.get("RequestId").asText());
    }

    @Test
    void requestsStayUnderOneMegabyteAndARowLargerThanThatIsDeadLettered() throws Exception {
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.5""");
        List<String> ids = List.of("big-1", "big-2", "big-3", "huge", "small");
        try (LogUsageToLogAnalytics plugin = plugin(azure, yaml)) {
            for (String id : ids) {
                int modelLength = switch (id) {
                    case "huge" -> 1_100_000;
                    case "small" -> 10;
                    default -> 400_000;
                };
                plugin.onUsage(null, simple(id).model("m".repeat(modelLength)).build());
            }
            Await.until("four rows delivered", () -> deliveredIds().size() == 4);
        }

        assertEquals(List.of("big-1", "big-2", "big-3", "small"), deliveredIds());
        for (Upload upload : uploads()) {
            assertTrue(upload.request().getBodyAsString().length() < 1_048_576, upload.rows().size() + " rows");
        }
        assertTrue(uploads().size() >= 2, "the large rows need two requests");
        JsonNode dead = parse(Files.readAllLines(dir.resolve("loganalytics-deadletter.jsonl")).getFirst());
        assertEquals(413, dead.get("status").asInt());
        assertEquals("huge", dead.get("row").get("RequestId").asText());
        assertTrue(dead.get("error").asText().contains("more than the 1000000"), dead.get("error").asText());
        String logged = logs.containing(dir.resolve("loganalytics-deadletter.jsonl") + " and will not be sent again")
                .getFirst();
        assertTrue(logged.length() < 3000 && logged.endsWith(" characters)"), logged.substring(0, 300));
    }

    @Test
    void fiveThousandRequestsThroughTheProxyArriveAsExactlyFiveThousandRowsInBatches() throws Exception {
        String yaml = config(azure, dir, "extended_columns: true");
        Set<String> answered = ConcurrentHashMap.newKeySet();
        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin(azure, yaml)))) {
            load(proxy, 5000, 32, answered, null);
            Await.until("5,000 rows delivered", () -> deliveredIds().size() >= 5000);
        }

        List<Upload> uploads = uploads();
        List<String> delivered = deliveredIds();
        assertEquals(5000, answered.size());
        assertEquals(5000, delivered.size());
        assertEquals(answered, new HashSet<>(delivered), "exactly the answered requests, each once");
        // How fast rows reach Log Analytics is measured by make bench, not here.
        assertTrue(uploads.size() > 1 && uploads.size() < 5000, uploads.size() + " uploads");
    }

    @Test
    void anOutageDuringLoadLosesNoRowAndDeliversEveryRowOnceInTheOrderTheyWereQueued() throws Exception {
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_rows: 100
                batch_max_seconds: 0.1
                retry_max_seconds: 1""");
        OrderedPlugin plugin = new OrderedPlugin(plugin(azure, yaml));
        Set<String> answered = ConcurrentHashMap.newKeySet();
        CountDownLatch halfway = new CountDownLatch(600);
        StubMapping outage;
        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin));
                ExecutorService background = Executors.newVirtualThreadPerTaskExecutor()) {
            var loadDone = background.submit(() -> {
                load(proxy, 2000, 16, answered, halfway);
                return null;
            });
            assertTrue(halfway.await(30, TimeUnit.SECONDS), "the load runs");
            outage = azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                    .willReturn(aResponse().withStatus(503).withBody("{\"error\":{\"code\":\"ServiceUnavailable\"}}")));
            Await.until("two failed uploads, a second apart",
                    () -> uploads().stream().filter(upload -> upload.status() == 503).count() >= 2);
            String problem = plugin.readinessProblem();
            assertNotNull(problem, "not ready while Log Analytics fails");
            assertTrue(problem.startsWith("Log Analytics unreachable since "), problem);
            assertTrue(problem.contains("records spooled to " + dir.resolve("loganalytics-spool")),
                    problem);
            azure.server().removeStub(outage);
            loadDone.get(60, TimeUnit.SECONDS);
            Await.until("2,000 rows delivered", () -> deliveredIds().size() >= 2000);
            Await.until("ready again", () -> plugin.readinessProblem() == null);
        }

        assertEquals(2000, answered.size());
        assertEquals(plugin.queued(), deliveredIds(), "every row once, in the order queued");
        assertEquals(answered, new HashSet<>(plugin.queued()));
        assertFalse(logs.containing("Log Analytics takes usage records again").isEmpty());
    }

    @Test
    void rowsSpooledWhileIngestionIsDownAtShutdownAreSentOnceByTheNextStart() throws Exception {
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.1
                retry_max_seconds: 1""");
        Path spoolDir = dir.resolve("loganalytics-spool");
        StubMapping outage = azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                .willReturn(aResponse().withStatus(503)));
        OrderedPlugin first = new OrderedPlugin(plugin(azure, yaml));
        Set<String> answered = ConcurrentHashMap.newKeySet();
        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(first))) {
            load(proxy, 200, 8, answered, null);
            Await.until("the outage is noticed", () -> first.readinessProblem() != null);
        }
        assertEquals(200, answered.size());
        assertEquals(first.queued(), spooledIds(spoolDir), "the spool holds every row, in order");
        assertTrue(deliveredIds().isEmpty());

        azure.server().removeStub(outage);
        try (LogUsageToLogAnalytics second = plugin(azure, yaml)) {
            Await.until("the spool is sent", () -> deliveredIds().size() >= 200);
            Await.until("the spool is emptied", () -> spooledIds(spoolDir).isEmpty());
            assertNull(second.readinessProblem());
        }
        assertEquals(first.queued(), deliveredIds(), "every spooled row once, in order");

        int uploadsBefore = uploads().size();
        try (LogUsageToLogAnalytics third = plugin(azure, yaml)) {
            assertNull(third.readinessProblem());
        }
        assertEquals(uploadsBefore, uploads().size(), "nothing is sent again by a later start");
        assertEquals(List.of(), spooledIds(spoolDir));
    }

    @Test
    void aRejectedBatchGoesToTheDeadLetterFileWhileTheProxyServesAndLaterRowsAreDelivered() throws Exception {
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.05""");
        azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                .withRequestBody(containing("\"Client\":\"Team B\""))
                .willReturn(aResponse().withStatus(400).withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":{\"code\":\"InvalidContent\",\"message\":\"Column TotalTokens: bad\"}}")));
        Path deadLetters = dir.resolve("loganalytics-deadletter.jsonl");
        Set<String> before = ConcurrentHashMap.newKeySet();
        Set<String> after = ConcurrentHashMap.newKeySet();
        String teamB;
        LogUsageToLogAnalytics plugin = plugin(azure, yaml);
        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin))) {
            load(proxy, 20, 4, before, null);
            HttpResponse<String> rejected = proxy.postJson(CHAT, TEAM_B_KEY, BODY);
            assertEquals(200, rejected.statusCode());
            teamB = rejected.headers().firstValue(REQUEST_ID).orElseThrow();
            Await.until("the rejected row is dead-lettered",
                    () -> Files.exists(deadLetters) && Files.readString(deadLetters).contains(teamB));
            load(proxy, 20, 4, after, null);
            Await.until("later rows are delivered", () -> deliveredIds().containsAll(after));
            assertNull(plugin.readinessProblem(), "a rejection is not an outage");
        }

        List<JsonNode> dead = Files.readAllLines(deadLetters).stream().map(LogUsageToLogAnalyticsTest::parse).toList();
        Set<String> deadIds = new HashSet<>();
        for (JsonNode line : dead) {
            assertEquals(400, line.get("status").asInt());
            assertTrue(line.get("error").asText().contains("InvalidContent"), line.toString());
            assertTrue(line.get("dead_lettered_utc").asText().endsWith("Z"), line.toString());
            deadIds.add(line.get("row").get("RequestId").asText());
        }
        Set<String> rejectedIds = new HashSet<>();
        uploads().stream().filter(upload -> upload.status() == 400)
                .forEach(upload -> upload.rows().forEach(row -> rejectedIds.add(row.get("RequestId").asText())));
        assertEquals(rejectedIds, deadIds, "exactly the rows of the rejected requests");
        assertTrue(deadIds.contains(teamB));
        Set<String> all = new HashSet<>(before);
        all.addAll(after);
        all.add(teamB);
        Set<String> accounted = new HashSet<>(deliveredIds());
        assertEquals(deliveredIds().size(), accounted.size(), "none delivered twice");
        assertTrue(Collections.disjoint(accounted, deadIds), "none both delivered and dead-lettered");
        accounted.addAll(deadIds);
        assertEquals(all, accounted, "every row delivered or dead-lettered");
        List<String> logged = logs.containing(deadLetters + " and will not be sent again");
        assertFalse(logged.isEmpty());
        assertTrue(logged.getFirst().contains("Log Analytics rejected") && logged.getFirst().contains("InvalidContent")
                && logged.getFirst().contains("\"RequestId\":"), logged.getFirst());
    }

    @Test
    void anEntraIdThatRefusesTheSecretSpoolsTheRowsInsteadOfDeadLetteringThem() throws Exception {
        StubMapping refusal = azure.server().stubFor(post(urlPathMatching("/[^/]+/oauth2/v2.0/token")).atPriority(1)
                .willReturn(aResponse().withStatus(401).withHeader("Content-Type", "application/json")
                        .withBody("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client"
                                + " secret provided.\",\"error_codes\":[7000215]}")));
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.05
                retry_max_seconds: 1""");
        UsageRecord usage = simple("req-auth").build();
        try (LogUsageToLogAnalytics plugin = plugin(azure, yaml)) {
            plugin.onUsage(null, usage);
            Await.until("the failure is noticed", () -> plugin.readinessProblem() != null);
            assertTrue(plugin.readinessProblem().contains("1 records spooled"), plugin.readinessProblem());
            assertTrue(Files.notExists(dir.resolve("loganalytics-deadletter.jsonl")), "nothing dead-lettered");

            azure.server().removeStub(refusal);
            Await.until("delivered once the secret works", () -> deliveredIds().equals(List.of("req-auth")));
            Await.until("ready again", () -> plugin.readinessProblem() == null);
        }
    }

    @Test
    void aThrottledUploadIsRetriedNoSoonerThanRetryAfterAsks() throws Exception {
        azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                .inScenario("throttled").whenScenarioStateIs(Scenario.STARTED)
                .willReturn(aResponse().withStatus(429).withHeader("Retry-After", "2"))
                .willSetStateTo("served"));
        String yaml = config(azure, dir, """
                extended_columns: true
                batch_max_seconds: 0.05
                retry_max_seconds: 1""");
        UsageRecord usage = simple("req-429").build();
        try (LogUsageToLogAnalytics plugin = plugin(azure, yaml)) {
            plugin.onUsage(null, usage);
            Await.until("delivered after the throttling", () -> deliveredIds().equals(List.of("req-429")));
        }

        List<Upload> uploads = uploads();
        assertEquals(List.of(429, 204), uploads.stream().map(Upload::status).toList());
        Duration waited = Duration.between(uploads.get(0).received(), uploads.get(1).received());
        assertTrue(waited.compareTo(Duration.ofMillis(1900)) >= 0, "retried after " + waited);
    }

    /** A record of now with neither deployment nor api-version, as the mock upstream gives. */
    private static TestUsageRecord simple(String requestId) {
        return TestUsageRecord.of(requestId).received(Instant.now()).deployment(null, null).apiVersion(null);
    }

    /** Sends {@code count} chat requests from {@code clients} concurrent clients, collecting the answered request ids. */
    static void load(ProxyHarness proxy, int count, int clients, Set<String> answered, CountDownLatch progress)
            throws InterruptedException {
        AtomicInteger next = new AtomicInteger();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < clients; i++) {
                pool.submit(() -> {
                    while (next.getAndIncrement() < count) {
                        HttpResponse<String> response = proxy.postJson(CHAT, TEAM_A_KEY, BODY);
                        assertEquals(200, response.statusCode(), response.body());
                        answered.add(response.headers().firstValue(REQUEST_ID).orElseThrow());
                        if (progress != null) {
                            progress.countDown();
                        }
                    }
                    return null;
                });
            }
        }
    }

    /**
     * An upload request as the server logged it.
     *
     * @param received when the server received it
     * @param status what it answered
     * @param rows the rows of the (gunzipped) body
     */
    record Upload(Instant received, int status, List<JsonNode> rows, LoggedRequest request) {
    }

    /** The upload requests in the order they arrived (they are sent one at a time). */
    static List<Upload> uploads() {
        return uploads(azure);
    }

    static List<Upload> uploads(HttpsWireMock azure) {
        List<ServeEvent> events = new ArrayList<>(azure.server().getAllServeEvents());
        Collections.reverse(events);
        List<Upload> uploads = new ArrayList<>();
        for (ServeEvent event : events) {
            LoggedRequest request = event.getRequest();
            if (!request.getUrl().startsWith("/dataCollectionRules/")) {
                continue;
            }
            List<JsonNode> rows = new ArrayList<>();
            parse(request.getBodyAsString()).forEach(rows::add);
            uploads.add(new Upload(request.getLoggedDate().toInstant(), event.getResponse().getStatus(), rows, request));
        }
        return uploads;
    }

    /** The RequestIds of the rows the server accepted, in the order it received them. */
    static List<String> deliveredIds() {
        return deliveredIds(azure);
    }

    static List<String> deliveredIds(HttpsWireMock azure) {
        List<String> ids = new ArrayList<>();
        for (Upload upload : uploads(azure)) {
            if (upload.status() == 204) {
                upload.rows().forEach(row -> ids.add(row.get("RequestId").asText()));
            }
        }
        return ids;
    }

    /**
     * The RequestIds of the rows in a spool directory not acknowledged yet, in order; read without its lock, so a
     * segment deleted meanwhile counts as sent.
     */
    static List<String> spooledIds(Path spoolDir) throws IOException {
        if (!Files.isDirectory(spoolDir)) {
            return List.of();
        }
        Path offsetFile = spoolDir.resolve("spool.offset");
        long offset = Files.exists(offsetFile) ? Long.parseLong(Files.readString(offsetFile, UTF_8).strip()) : 0;
        List<Path> segments;
        try (Stream<Path> files = Files.list(spoolDir)) {
            segments = files.filter(file -> file.getFileName().toString().matches("spool-\\d{19}\\.jsonl")).sorted()
                    .toList();
        }
        List<String> ids = new ArrayList<>();
        for (Path segment : segments) {
            long start = Long.parseLong(segment.getFileName().toString().substring(6, 25));
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(segment);
            } catch (NoSuchFileException sent) {
                continue;
            }
            int from = (int) Math.max(0, offset - start);
            if (from < bytes.length) {
                for (String line : new String(bytes, from, bytes.length - from, UTF_8).split("\n")) {
                    if (!line.isEmpty()) {
                        ids.add(parse(line).get("RequestId").asText());
                    }
                }
            }
        }
        return ids;
    }

    static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    /** Passes usage records on to the plugin and keeps the order in which they were queued. */
    static final class OrderedPlugin implements Plugin {

        private final Plugin plugin;
        private final List<String> queued = new ArrayList<>();

        OrderedPlugin(Plugin plugin) {
            this.plugin = plugin;
        }

        @Override
        public void onUsage(Exchange exchange, UsageRecord usage) {
            synchronized (queued) {
                queued.add(usage.requestId());
                plugin.onUsage(exchange, usage);
            }
        }

        List<String> queued() {
            synchronized (queued) {
                return List.copyOf(queued);
            }
        }

        @Override
        public String readinessProblem() {
            return plugin.readinessProblem();
        }

        @Override
        public void close() {
            plugin.close();
        }
    }
}
