package io.powerproxy.plugins;

import io.powerproxy.testing.CapturedLogs;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.powerproxy.testing.HttpsWireMock;
import io.powerproxy.usage.Spool;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spool as the write-ahead journal of LogUsageToLogAnalytics: a line is in its file when the append returns, the
 * journal restarts from the last acknowledged line after a crash, and acknowledged segments are deleted.
 */
class LogAnalyticsJournalTest {

    /** About 1 KB, so that a few thousand lines fill a segment. */
    private static final String PADDING = "x".repeat(1000);

    @TempDir
    Path dir;

    private static String line(int n) {
        return "{\"n\":" + n + ",\"pad\":\"" + PADDING + "\"}";
    }

    private static List<String> lines(int from, int to) {
        List<String> lines = new ArrayList<>();
        for (int n = from; n < to; n++) {
            lines.add(line(n));
        }
        return lines;
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().matches("spool-\\d{19}\\.jsonl")).sorted().toList();
        }
    }

    @Test
    void anAppendFromAnInterruptedThreadIsKeptAndTheJournalStaysOpenForTheNext() throws Exception {
        // A stop that runs out of grace interrupts the request threads, which then hand over their usage records.
        try (Spool spool = Spool.open(dir)) {
            Thread interrupted = Thread.ofVirtual().unstarted(() -> {
                Thread.currentThread().interrupt();
                try {
                    spool.append(List.of("{\"n\":1}"));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            interrupted.setUncaughtExceptionHandler((thread, e) -> failure.set(e));
            interrupted.start();
            interrupted.join();
            assertNull(failure.get(), () -> "the interrupted append failed: " + failure.get());
            spool.append(List.of("{\"n\":2}"));
            assertEquals(2, spool.pending());
            assertEquals(2, spool.peek(10, 1 << 20).size());
        }
    }

    @Test
    void aLineIsInTheJournalFileWhenTheAppendReturnsBeforeAnySync() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("{\"n\":1}"));

            assertEquals("{\"n\":1}\n", Files.readString(spool.file(), UTF_8));
        }
    }

    @Test
    void afterACrashTheJournalIsSentAgainFromTheLastAcknowledgedLineAcrossSegments() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            // Three segments and more; the process "crashes" (closes without acknowledging) after 5,000 lines are sent.
            for (int n = 0; n < 12_000; n += 1000) {
                spool.append(lines(n, n + 1000));
            }
            for (int sent = 0; sent < 5000; sent += 500) {
                spool.acknowledge(spool.peek(500, Long.MAX_VALUE));
            }
        }

        try (Spool spool = Spool.open(dir)) {
            assertEquals(7000, spool.pending());
            List<Spool.Entry> next = spool.peek(2000, Long.MAX_VALUE);
            assertEquals(line(5000), next.getFirst().line());
            assertEquals(line(6999), next.getLast().line());
            List<String> all = new ArrayList<>();
            while (!spool.isEmpty()) {
                List<Spool.Entry> batch = spool.peek(700, Long.MAX_VALUE);
                batch.forEach(entry -> all.add(entry.line()));
                spool.acknowledge(batch);
            }
            assertEquals(lines(5000, 12_000), all, "every line not acknowledged, once, in order");
        }
    }

    @Test
    void segmentsAreDeletedOnceEveryLineInThemIsAcknowledgedSoTheJournalStaysBounded() throws IOException {
        long most = 0;
        try (Spool spool = Spool.open(dir)) {
            // 40 MB go through while the sender keeps a batch behind: the journal never holds more than a segment and
            // what is not sent yet.
            for (int n = 0; n < 40_000; n += 500) {
                spool.append(lines(n, n + 500));
                if (spool.pending() > 500) {
                    spool.acknowledge(spool.peek(500, Long.MAX_VALUE));
                }
                long bytes = 0;
                for (Path segment : segments()) {
                    bytes += Files.size(segment);
                }
                most = Math.max(most, bytes);
            }
            assertEquals(500, spool.pending());
            assertTrue(segments().size() <= 2, segments().toString());
        }
        assertTrue(most < 4 * 1024 * 1024 + 2 * 500 * 1030, "the journal held " + most + " bytes at most");
    }

    @Test
    void aFileNamedSpoolJsonlPutThereByHandIsAddedBehindWhatIsWaiting() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("{\"n\":1}"));
        }
        Files.writeString(dir.resolve("spool.jsonl"), "{\"n\":2}\n{\"n\":3}\n", UTF_8);

        try (Spool spool = Spool.open(dir)) {
            assertEquals(List.of("{\"n\":1}", "{\"n\":2}", "{\"n\":3}"),
                    spool.peek(10, Long.MAX_VALUE).stream().map(Spool.Entry::line).toList());
        }
        assertTrue(Files.notExists(dir.resolve("spool.jsonl")));
    }

    @Test
    void aSpoolLeftByAnOlderVersionInOneFileIsSentFromItsOffset() throws IOException {
        Files.writeString(dir.resolve("spool.jsonl"), "a\nb\nc\n", UTF_8);
        Files.writeString(dir.resolve("spool.offset"), "2");

        try (Spool spool = Spool.open(dir)) {
            assertEquals(List.of("b", "c"), spool.peek(10, Long.MAX_VALUE).stream().map(Spool.Entry::line).toList());
        }
    }

    @Test
    void aRowTheJournalCannotTakeIsLoggedAtErrorWithEveryColumnAndTheRequestGoesOn() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start();
                CapturedLogs logs = CapturedLogs.start()) {
            LogUsageToLogAnalyticsTest.stubTokenAndIngestion(azure);
            LogUsageToLogAnalytics plugin = LogUsageToLogAnalyticsTest.plugin(azure,
                    LogUsageToLogAnalyticsTest.config(azure, dir.resolve("logs"), "extended_columns: true"));
            plugin.close();
            UsageRecord usage = LogUsageToCsvFileTest.usage(Instant.parse("2026-11-25T10:15:30Z"), "Team A", "req-late");

            plugin.onUsage(LogUsageToCsvFileTest.exchange(usage), usage);

            List<String> errors = logs.messages(LogUsageToLogAnalytics.class, Level.ERROR);
            assertEquals(1, errors.size(), errors.toString());
            assertTrue(errors.getFirst().contains("usage record not written") && errors.getFirst().contains("is closed")
                    && errors.getFirst().contains("\"RequestId\":\"req-late\""), errors.getFirst());
            assertTrue(plugin.readinessProblem().contains("could not be written"), plugin.readinessProblem());
        }
    }
}
