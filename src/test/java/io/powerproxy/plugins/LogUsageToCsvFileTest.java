package io.powerproxy.plugins;

import static io.powerproxy.plugins.PluginTestSupport.context;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.TestUsageRecord;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LogUsageToCsvFile appends usage records to one RFC 4180 CSV file per UTC day. */
class LogUsageToCsvFileTest {

    private static final Instant NOV_25 = Instant.parse("2026-11-25T10:15:30.123Z");

    @TempDir
    Path dir;

    private Plugin plugin() throws ConfigException {
        return LogUsageToCsvFile.factory().create(context("- name: LogUsageToCsvFile\n  log_dir: '" + dir + "'"));
    }

    static UsageRecord usage(Instant received, String client, String requestId) {
        return TestUsageRecord.of(requestId).received(received).client(client).tokens(14, 21).roundtripMs(812.5)
                .region("swedencentral").model("gpt-4o-2024-08-06").build();
    }

    static Exchange exchange(UsageRecord usage) {
        return new ExchangeState(usage.requestId(), usage.requestReceivedUtc(), System.nanoTime(), "POST",
                "/openai/deployments/gpt-4o/chat/completions", "api-version=2024-10-21", Map.of()).view();
    }

    private Path file(String name) {
        return dir.resolve(name);
    }

    @Test
    void fieldsWithCommasQuotesAndLineBreaksAreQuotedAndReadBackUnchanged() throws Exception {
        UsageRecord tricky = TestUsageRecord.of("req-1").received(NOV_25).client("Team \"A\", Berlin\r\nsecond line")
                .streaming(true).tokens(1, 2).roundtripMs(4.5).region("").apiVersion(null).status(429)
                .operation(UsageRecord.Operation.EMBEDDINGS).model("model,with\nbreak")
                .source(UsageRecord.UsageSource.ESTIMATED).build();
        UsageRecord plain = usage(NOV_25, "Team B", "req-2");
        Plugin plugin = plugin();

        plugin.onUsage(exchange(tricky), tricky);
        plugin.onUsage(exchange(plain), plain);
        plugin.close();

        List<List<String>> rows = Rfc4180.read(Files.readString(file("20261125.logs.csv"), UTF_8));
        assertEquals(List.of(UsageRecord.COLUMNS, expected(tricky), expected(plain)), rows);
        String text = Files.readString(file("20261125.logs.csv"), UTF_8);
        // The record itself escapes the line break (see UsageRecord), so the row stays on one line.
        assertTrue(text.contains(",\"Team \"\"A\"\", Berlin\\r\\nsecond line\",true,"), text);
        assertTrue(text.contains(",\"\",Sweden,gpt-4o,,,429,"), "null is an empty field, empty text is \"\": " + text);
        assertTrue(text.endsWith("\r\n"));
    }

    @Test
    void theHeaderIsWrittenOnceAndLaterRunsAppendToTheSameFile() throws Exception {
        for (int run = 0; run < 3; run++) {
            Plugin plugin = plugin();
            for (int i = 0; i < 2; i++) {
                UsageRecord usage = usage(NOV_25, "Team A", "req-" + run + "-" + i);
                plugin.onUsage(exchange(usage), usage);
            }
            plugin.close();
        }

        String text = Files.readString(file("20261125.logs.csv"), UTF_8);
        assertTrue(text.startsWith(String.join(",", UsageRecord.COLUMNS) + "\r\n"), text);
        List<List<String>> rows = Rfc4180.read(text);
        assertEquals(7, rows.size());
        assertEquals(1, rows.stream().filter(row -> row.equals(UsageRecord.COLUMNS)).count());
        assertEquals(List.of("20261125.logs.csv"), fileNames());
    }

    @Test
    void eachRecordGoesToTheFileOfItsUtcDaySoABatchCanSpanMidnight() throws Exception {
        UsageRecord beforeMidnight = usage(Instant.parse("2026-11-25T23:59:59.999Z"), "Team A", "req-1");
        UsageRecord afterMidnight = usage(Instant.parse("2026-11-26T00:00:00Z"), "Team A", "req-2");
        UsageRecord lateFinisher = usage(Instant.parse("2026-11-25T23:59:00Z"), "Team A", "req-3");
        Plugin plugin = plugin();

        for (UsageRecord usage : List.of(beforeMidnight, afterMidnight, lateFinisher)) {
            plugin.onUsage(exchange(usage), usage);
        }
        plugin.close();

        assertEquals(List.of("20261125.logs.csv", "20261126.logs.csv"), fileNames());
        assertEquals(List.of("req-1", "req-3"), requestIds(file("20261125.logs.csv")));
        assertEquals(List.of("req-2"), requestIds(file("20261126.logs.csv")));
    }

    @Test
    void aThousandConcurrentUsageCallsGiveExactlyAThousandRowsEachRequestOnce() throws Exception {
        Plugin plugin = plugin();
        List<String> notYetWritten = java.util.Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);

        try (ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 1000; i++) {
                UsageRecord usage = usage(NOV_25, "Team " + (i % 7), "req-" + i);
                requests.submit(() -> {
                    start.await();
                    plugin.onUsage(exchange(usage), usage);
                    // Rows written together by whichever request holds the lock: each call still returns only
                    // after its own row is in the file.
                    if (!Files.readString(file("20261125.logs.csv"), UTF_8).contains("," + usage.requestId() + ",")) {
                        notYetWritten.add(usage.requestId());
                    }
                    return null;
                });
            }
            start.countDown();
        }
        plugin.close();
        assertEquals(List.of(), notYetWritten);

        List<String> ids = requestIds(file("20261125.logs.csv"));
        assertEquals(1000, ids.size());
        Set<String> expected = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            expected.add("req-" + i);
        }
        assertEquals(expected, new HashSet<>(ids));
    }

    @Test
    void closeWritesWhatIsStillQueued() throws Exception {
        Plugin plugin = plugin();
        UsageRecord usage = usage(NOV_25, "Team A", "req-1");

        plugin.onUsage(exchange(usage), usage);
        plugin.close();

        assertEquals(List.of("req-1"), requestIds(file("20261125.logs.csv")));
        assertEquals(null, plugin.readinessProblem());
    }

    @Test
    void aFileWithOtherColumnsIsLeftAloneAndANumberedFileIsStarted() throws Exception {
        String older = "request_received_utc,client,is_streaming,prompt_tokens,completion_tokens,total_tokens,"
                + "aoai_roundtrip_time_ms,aoai_region,aoai_endpoint,aoai_virtual_deployment,aoai_standin_deployment,"
                + "aoai_api_version\r\n2026-11-25 01:00:00+00:00,Team A,0,1,2,3,4,swedencentral,Sweden,,,\r\n";
        Files.writeString(file("20261125.logs.csv"), older, UTF_8);
        Plugin plugin = plugin();
        UsageRecord usage = usage(NOV_25, "Team A", "req-1");

        plugin.onUsage(exchange(usage), usage);
        plugin.close();

        assertEquals(older, Files.readString(file("20261125.logs.csv"), UTF_8));
        assertEquals(List.of("req-1"), requestIds(file("20261125.2.logs.csv")));
        assertEquals(List.of("20261125.2.logs.csv", "20261125.logs.csv"), fileNames());
    }

    @Test
    void aLastLineLeftOpenByACrashIsEndedBeforeNewRowsAreAppended() throws Exception {
        String header = String.join(",", UsageRecord.COLUMNS);
        Files.writeString(file("20261125.logs.csv"), header + "\r\n2026-11-25T01:00:00Z,Team A,fal", UTF_8);
        Plugin plugin = plugin();
        UsageRecord usage = usage(NOV_25, "Team A", "req-1");

        plugin.onUsage(exchange(usage), usage);
        plugin.close();

        List<List<String>> rows = Rfc4180.read(Files.readString(file("20261125.logs.csv"), UTF_8));
        assertEquals(3, rows.size());
        assertEquals(List.of("2026-11-25T01:00:00Z", "Team A", "fal"), rows.get(1));
        assertEquals(expected(usage), rows.get(2));
    }

    @Test
    void aMissingLogDirIsCreated() throws Exception {
        Path nested = dir.resolve("usage/csv");

        Plugin plugin = LogUsageToCsvFile.factory().create(context("- name: LogUsageToCsvFile\n  log_dir: '" + nested + "'"));
        plugin.close();

        assertTrue(Files.isDirectory(nested));
        try (Stream<Path> files = Files.list(nested)) {
            assertEquals(0, files.count(), "the write test leaves nothing behind");
        }
    }

    @Test
    void aLogDirThatCannotBeWrittenIsAConfigErrorNamingItsPath() throws Exception {
        Path aFile = Files.writeString(dir.resolve("not-a-dir"), "x");

        ConfigException error = assertThrows(ConfigException.class, () -> LogUsageToCsvFile.factory()
                .create(context("- name: LogUsageToConsole\n- name: LogUsageToCsvFile\n  log_dir: '" + aFile + "/logs'")));

        assertEquals(1, error.problems().size());
        String problem = error.problems().getFirst();
        assertTrue(problem.startsWith("plugins[1].log_dir '" + aFile + "/logs' is not a writable directory: "), problem);
    }

    @Test
    void unknownSettingsAndALogDirThatIsNoTextAreConfigErrors() {
        ConfigException error = assertThrows(ConfigException.class, () -> LogUsageToCsvFile.factory()
                .create(context("- name: LogUsageToCsvFile\n  log_dir: 42\n  log_file: usage.csv")));

        assertEquals(2, error.problems().size(), error.getMessage());
        assertTrue(error.problems().get(0).startsWith("plugins[0].log_file is not a setting of LogUsageToCsvFile"),
                error.problems().get(0));
        assertEquals("plugins[0].log_dir must be the path of a directory, got 42", error.problems().get(1));
    }

    @Test
    void fileNamesFollowTheOriginalsDateFirstLogsCsvForm() {
        assertEquals("20260105.logs.csv", LogUsageToCsvFile.fileName(LocalDate.of(2026, 1, 5), 1));
        assertEquals("20260105.3.logs.csv", LogUsageToCsvFile.fileName(LocalDate.of(2026, 1, 5), 3));
    }

    private List<String> fileNames() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    /** The request ids of a CSV file's rows, in file order, after checking its header. */
    static List<String> requestIds(Path csv) throws IOException {
        List<List<String>> rows = Rfc4180.read(Files.readString(csv, UTF_8));
        assertEquals(UsageRecord.COLUMNS, rows.getFirst());
        int column = UsageRecord.COLUMNS.indexOf("request_id");
        return rows.subList(1, rows.size()).stream().map(row -> row.get(column)).toList();
    }

    /** What a row reads back as: the record's values with an empty field for null. */
    private static List<String> expected(UsageRecord usage) {
        return usage.values().stream().map(value -> value == null ? "" : value).toList();
    }

    /** A strict RFC 4180 reader: CRLF between records, quoted fields with doubled quotes; fails on anything else. */
    static final class Rfc4180 {

        private Rfc4180() {
        }

        static List<List<String>> read(String text) {
            List<List<String>> rows = new ArrayList<>();
            List<String> row = new ArrayList<>();
            StringBuilder field = new StringBuilder();
            int i = 0;
            while (i < text.length()) {
                char c = text.charAt(i);
                if (c == '"' && field.isEmpty()) {
                    i++;
                    while (true) {
                        assertTrue(i < text.length(), "unterminated quoted field");
                        char q = text.charAt(i++);
                        if (q == '"') {
                            if (i < text.length() && text.charAt(i) == '"') {
                                field.append('"');
                                i++;
                            } else {
                                break;
                            }
                        } else {
                            field.append(q);
                        }
                    }
                    assertTrue(i == text.length() || text.charAt(i) == ',' || text.charAt(i) == '\r',
                            "a quoted field must end at a comma or line end, at " + i);
                } else if (c == ',') {
                    row.add(field.toString());
                    field.setLength(0);
                    i++;
                } else if (c == '\r') {
                    assertTrue(i + 1 < text.length() && text.charAt(i + 1) == '\n', "CR without LF at " + i);
                    row.add(field.toString());
                    field.setLength(0);
                    rows.add(row);
                    row = new ArrayList<>();
                    i += 2;
                } else {
                    assertFalse(c == '\n' || c == '"', "bare " + (c == '\n' ? "LF" : "quote") + " at " + i);
                    field.append(c);
                    i++;
                }
            }
            if (!field.isEmpty() || !row.isEmpty()) {
                row.add(field.toString());
                rows.add(row);
            }
            return rows;
        }
    }
}
