package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LogUsageToCsvFile with {@code format: original} writes the file the Python original (timoklimmer/powerproxy-aoai,
 * app/plugins/LogUsage/LogUsageToCsvFile.py) writes for the same requests, byte for byte.
 */
class LogUsageToCsvFileOriginalFormatTest {

    /**
     * What the original writes for {@link #TEAM_A_SWEDEN} and {@link #TEAM_B_STANDIN}, built from its code:
     * <ul>
     *   <li>the header without a line break when the plugin starts (LogUsageToCsvFile.py, lines 16-29 and 44-46);</li>
     *   <li>each row after a {@code \n}, no quoting, {@code 1}/{@code 0}, {@code None} for a missing region, empty
     *       for a missing virtual or stand-in deployment or API version (lines 64-79);</li>
     *   <li>{@code request_received_utc} is {@code str(datetime.now(timezone.utc))} (app/powerproxy.py, line 204),
     *       which drops the microseconds when they are zero; the roundtrip is {@code int(end_ms - start_ms)}
     *       (lines 494-498); the virtual and stand-in deployments are those of the target, None for an endpoint
     *       without virtual deployments (lines 362-366); the API version is "" when the request has none (line 229).
     *       </li>
     * </ul>
     * The same bytes came out of the original's LogUsageToCsvFile run unchanged (Python 3.11) on these two requests.
     */
    static final String ORIGINAL_FILE = "request_received_utc,client,is_streaming,prompt_tokens,completion_tokens,"
            + "total_tokens,aoai_roundtrip_time_ms,aoai_region,aoai_endpoint,aoai_virtual_deployment,"
            + "aoai_standin_deployment,aoai_api_version"
            + "\n2026-11-25 10:15:30.123000+00:00,Team A,0,8,2,10,412,Sweden Central,Sweden,,,2024-10-21"
            + "\n2026-11-25 10:15:31+00:00,Team B,1,14,21,35,1203,None,France,gpt-4o,gpt-4o-ptu,";

    /** Non-streaming, at an endpoint without virtual deployments, 412.7 ms. */
    static final UsageRecord TEAM_A_SWEDEN = new UsageRecord(Instant.parse("2026-11-25T10:15:30.123Z"), "Team A",
            false, 8, 2, 10, 412.7, "Sweden Central", "Sweden", "gpt-4o", null, "2024-10-21", 200,
            UsageRecord.Operation.CHAT, "gpt-4o-2024-08-06", UsageRecord.UsageSource.REPORTED, "req-1");
    /** Streaming, served by a stand-in, no region header, no api-version, on a whole second. */
    static final UsageRecord TEAM_B_STANDIN = new UsageRecord(Instant.parse("2026-11-25T10:15:31Z"), "Team B", true,
            14, 21, 35, 1203.2, null, "France", "gpt-4o", "gpt-4o-ptu", null, 200, UsageRecord.Operation.CHAT, null,
            UsageRecord.UsageSource.ESTIMATED, "req-2");
    private static final LocalDateTime STARTED = LocalDateTime.of(2026, 12, 6, 11, 37, 40);
    private static final String KEY = Configs.TEAM_A_KEY;
    private static final Pattern ROW = Pattern.compile(
            "(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d{6})?\\+00:00),(.*)");

    @TempDir
    Path dir;

    @Test
    void twoRequestsGiveTheBytesTheOriginalWritesForThem() throws Exception {
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED)) {
            sink.onUsage(null, TEAM_A_SWEDEN);
            sink.onUsage(null, TEAM_B_STANDIN);
        }

        assertEquals(List.of("20261206-113740.logs.csv"), fileNames());
        assertEquals(ORIGINAL_FILE, Files.readString(dir.resolve("20261206-113740.logs.csv"), UTF_8));
    }

    @Test
    void eachRowIsInTheFileAsSoonAsOnUsageReturns() throws Exception {
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED)) {
            sink.onUsage(null, TEAM_A_SWEDEN);

            assertEquals(ORIGINAL_FILE.substring(0, ORIGINAL_FILE.lastIndexOf('\n')),
                    Files.readString(dir.resolve("20261206-113740.logs.csv"), UTF_8));
        }
    }

    @Test
    void rowsOfConcurrentRequestsWrittenTogetherEachStartOnALineOfTheirOwn() throws Exception {
        int requests = 500;
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED);
                var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
            for (int i = 0; i < requests; i++) {
                int number = i;
                threads.submit(() -> {
                    start.await();
                    sink.onUsage(null, new UsageRecord(TEAM_A_SWEDEN.requestReceivedUtc(), "Team " + number, false,
                            8, 2, 10, 412.7, "Sweden Central", "Sweden", "gpt-4o", null, "2024-10-21", 200,
                            UsageRecord.Operation.CHAT, null, UsageRecord.UsageSource.REPORTED, "req-" + number));
                    return null;
                });
            }
            start.countDown();
        }

        List<String> lines = Files.readString(dir.resolve("20261206-113740.logs.csv"), UTF_8).lines().toList();
        assertEquals(OriginalFormat.CSV_HEADER, lines.getFirst());
        assertEquals(requests + 1, lines.size());
        java.util.Set<String> teams = new java.util.HashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            Matcher row = ROW.matcher(line);
            assertTrue(row.matches(), line);
            teams.add(row.group(2).substring(0, row.group(2).indexOf(',')));
        }
        assertEquals(requests, teams.size());
    }

    @Test
    void theFileIsMadeWithItsHeaderWhenThePluginStartsAndNamedAfterTheStartAsTheOriginalDid() throws Exception {
        LocalDateTime before = LocalDateTime.now().truncatedTo(ChronoUnit.SECONDS);
        try (Plugin plugin = plugin()) {
            LocalDateTime after = LocalDateTime.now();

            List<String> names = fileNames();
            assertEquals(1, names.size(), names.toString());
            LocalDateTime named = LocalDateTime.parse(names.getFirst().replace(".logs.csv", ""),
                    java.time.format.DateTimeFormatter.ofPattern("uuuuMMdd-HHmmss"));
            assertTrue(!named.isBefore(before) && !named.isAfter(after), names.getFirst());
            assertEquals(OriginalFormat.CSV_HEADER, Files.readString(dir.resolve(names.getFirst()), UTF_8));
        }
    }

    @Test
    void aFileOfTheSameSecondIsLeftAloneForANumberedOne() throws Exception {
        Files.writeString(dir.resolve("20261206-113740.logs.csv"), "another process's file", UTF_8);

        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED)) {
            sink.onUsage(null, TEAM_A_SWEDEN);
            sink.onUsage(null, TEAM_B_STANDIN);
        }

        assertEquals("another process's file", Files.readString(dir.resolve("20261206-113740.logs.csv"), UTF_8));
        assertEquals(ORIGINAL_FILE, Files.readString(dir.resolve("20261206-113740.2.logs.csv"), UTF_8));
    }

    @Test
    void aFileMovedAwayIsStartedAgainWithTheHeaderAtItsName() throws Exception {
        Path file = dir.resolve("20261206-113740.logs.csv");
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED)) {
            sink.onUsage(null, TEAM_A_SWEDEN);
            Files.move(file, dir.resolve("rotated.csv"));
            sink.onUsage(null, TEAM_B_STANDIN);
        }

        assertEquals(OriginalFormat.CSV_HEADER + ORIGINAL_FILE.substring(ORIGINAL_FILE.lastIndexOf('\n')),
                Files.readString(file, UTF_8));
    }

    /** The original wrote such a value as it was, which split it over two columns; quoted, it stays one. */
    @Test
    void aClientNameWithACommaOrQuoteIsQuotedSoTheRowKeepsItsTwelveColumns() throws Exception {
        UsageRecord usage = new UsageRecord(Instant.parse("2026-11-25T10:15:30.000001Z"), "Team \"A\", Berlin", false,
                1, 2, 3, 0.4, "Sweden Central", "Sweden", null, null, "2024-10-21", 200, UsageRecord.Operation.CHAT,
                null, UsageRecord.UsageSource.REPORTED, "req-3");
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.createOriginal(dir, STARTED)) {
            sink.onUsage(null, usage);
        }

        String row = Files.readString(dir.resolve("20261206-113740.logs.csv"), UTF_8)
                .substring(OriginalFormat.CSV_HEADER.length());
        assertEquals("\n2026-11-25 10:15:30.000001+00:00,\"Team \"\"A\"\", Berlin\",0,1,2,3,0,Sweden Central,Sweden,,,"
                + "2024-10-21", row);
        assertEquals(List.of("2026-11-25 10:15:30.000001+00:00", "Team \"A\", Berlin", "0", "1", "2", "3", "0",
                "Sweden Central", "Sweden", "", "", "2024-10-21"), LogUsageToCsvFileTest.Rfc4180.read(row.substring(1)).getFirst());
    }

    @Test
    void aRequestThroughTheProxyToAnEndpointWithoutVirtualDeploymentsIsWrittenAsTheOriginalWouldWriteIt()
            throws Exception {
        WireMockServer azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(urlPathMatching(".*")).willReturn(okJson("{\"id\":\"x\",\"object\":\"chat.completion\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"}}],"
                + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23}}")
                .withHeader("x-ms-region", "Sweden Central")));
        try {
            String aoai = """
                    endpoints:
                      - name: Sweden
                        url: %s
                        key: k
                    """.formatted(azure.baseUrl());
            UsageRecord record = throughTheProxy(aoai, proxy -> proxy.postJson(
                    "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", KEY, "{\"messages\":[]}"));

            assertEquals(",Team A,0,20,3,23," + (long) record.aoaiRoundtripTimeMs() + ",Sweden Central,Sweden,,,2024-10-21",
                    onlyRow(record));
        } finally {
            azure.stop();
        }
    }

    @Test
    void aStreamedRequestThroughTheProxyToAStandinWithoutRegionOrApiVersionIsWrittenAsTheOriginalWouldWriteIt()
            throws Exception {
        WireMockServer azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "text/event-stream")
                .withBody("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                        + "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                        + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n"
                        + "data: [DONE]\n\n")));
        try {
            String aoai = """
                    endpoints:
                      - name: France
                        url: %s
                        key: k
                        virtual_deployments:
                          - name: gpt-4o
                            standins:
                              - name: gpt-4o-ptu
                    """.formatted(azure.baseUrl());
            UsageRecord record = throughTheProxy(aoai, proxy -> proxy.send(proxy.request(
                            "/openai/deployments/gpt-4o/chat/completions").header("api-key", KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[],\"stream\":true}")).build()));

            assertEquals(",Team A,1,9,1,10," + (long) record.aoaiRoundtripTimeMs() + ",None,France,gpt-4o,gpt-4o-ptu,",
                    onlyRow(record));
        } finally {
            azure.stop();
        }
    }

    @Test
    void aFormatOtherThanOriginalOrDefaultIsAConfigErrorNamingItsPath() {
        ConfigException error = assertThrows(ConfigException.class, () -> LogUsageToCsvFile.factory()
                .create(PluginTestSupport.context("- name: LogUsageToCsvFile\n  log_dir: '" + dir
                        + "'\n  format: python")));

        assertEquals(List.of("plugins[0].format must be original (the Python original's format) or default (this"
                + " proxy's, also when not set), got 'python'"), error.problems());
    }

    @Test
    void formatDefaultIsTodaysFormat() throws Exception {
        try (Plugin plugin = LogUsageToCsvFile.factory().create(PluginTestSupport.context(
                "- name: LogUsageToCsvFile\n  log_dir: '" + dir + "'\n  format: default"))) {
            plugin.onUsage(null, TEAM_A_SWEDEN);
        }

        assertEquals(List.of("20261125.logs.csv"), fileNames());
    }

    /** One request through a proxy with this plugin in the original's format; the record the proxy made for it. */
    private UsageRecord throughTheProxy(String aoai, Request request) throws Exception {
        String yaml = Configs.withAoai(aoai).replace("aoai:\n", """
                plugins:
                  - name: LogUsageToCsvFile
                    log_dir: '%s'
                    format: original
                aoai:
                """.formatted(dir));
        ProxyConfig config = ConfigLoader.parse(yaml);
        RecordingPlugin recorder = new RecordingPlugin();
        try (Plugin csv = LogUsageToCsvFile.factory().create(new PluginContext(config.plugins().getFirst(), config));
                ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(csv, recorder))) {
            HttpResponse<String> response = request.send(proxy);
            assertEquals(200, response.statusCode(), response.body());
            return recorder.await(1).getFirst();
        }
    }

    /**
     * The file's one row after its {@code request_received_utc}, which must be the record's time as Python prints it
     * (to the microsecond); the file must be the header and that row after a {@code \n}.
     */
    private String onlyRow(UsageRecord record) throws IOException {
        List<String> names = fileNames();
        assertEquals(1, names.size(), names.toString());
        String content = Files.readString(dir.resolve(names.getFirst()), UTF_8);
        assertTrue(content.startsWith(OriginalFormat.CSV_HEADER + "\n"), content);
        String row = content.substring(OriginalFormat.CSV_HEADER.length() + 1);
        Matcher matcher = ROW.matcher(row);
        assertTrue(matcher.matches(), row);
        assertEquals(record.requestReceivedUtc().truncatedTo(ChronoUnit.MICROS),
                OffsetDateTime.parse(matcher.group(1).replace(' ', 'T')).toInstant());
        return row.substring(matcher.end(1));
    }

    private List<String> fileNames() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    private Plugin plugin() throws ConfigException {
        return LogUsageToCsvFile.factory().create(PluginTestSupport.context(
                "- name: LogUsageToCsvFile\n  log_dir: '" + dir + "'\n  format: original"));
    }

    @FunctionalInterface
    private interface Request {
        HttpResponse<String> send(ProxyHarness proxy) throws Exception;
    }
}
