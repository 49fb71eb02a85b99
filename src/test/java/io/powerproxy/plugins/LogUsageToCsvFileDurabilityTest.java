package io.powerproxy.plugins;

import io.powerproxy.testing.CapturedLogs;
import static io.powerproxy.plugins.LogUsageToCsvFileTest.exchange;
import static io.powerproxy.plugins.LogUsageToCsvFileTest.usage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LogUsageToCsvFile has each row in its file when onUsage returns, and keeps a row it cannot write in the log. */
class LogUsageToCsvFileDurabilityTest {

    private static final Instant NOV_25 = Instant.parse("2026-11-25T10:15:30.123Z");
    private static final String FILE = "20261125.logs.csv";

    @TempDir
    Path dir;

    private static void record(LogUsageToCsvFile sink, String requestId) {
        UsageRecord usage = usage(NOV_25, "Team A", requestId);
        sink.onUsage(exchange(usage), usage);
    }

    @Test
    void theRowIsInTheFileAsSoonAsOnUsageReturns() throws IOException {
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir)) {
            record(sink, "req-1");
            assertEquals(List.of("req-1"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
            record(sink, "req-2");
            assertEquals(List.of("req-1", "req-2"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
        }
    }

    @Test
    void aRequestThreadThatWasInterruptedStillWritesItsRowAndLeavesTheFileOpenForTheNext() throws Exception {
        // A stop that runs out of grace interrupts the request threads, which then hand over their usage records.
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir)) {
            Thread interrupted = Thread.ofVirtual().unstarted(() -> {
                Thread.currentThread().interrupt();
                record(sink, "req-1");
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept for the caller");
            });
            interrupted.start();
            interrupted.join();
            record(sink, "req-2");
            assertEquals(List.of("req-1", "req-2"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
        }
    }

    @Test
    void aRowThatCannotBeWrittenIsLoggedAtErrorTheProblemIsReportedAndTheNextRowIsWrittenOnceItCanBe()
            throws IOException {
        try (CapturedLogs logs = CapturedLogs.start();
                LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir)) {
            Files.delete(dir);
            Files.writeString(dir, "a file where the directory was");

            record(sink, "req-1");

            List<String> errors = logs.messages(LogUsageToCsvFile.class, Level.ERROR);
            assertEquals(1, errors.size(), errors.toString());
            assertTrue(errors.getFirst().contains("usage record not written") && errors.getFirst().contains(FILE)
                    && errors.getFirst().contains("\"request_id\":\"req-1\""), errors.getFirst());
            assertTrue(sink.readinessProblem().contains("Not a directory"), sink.readinessProblem());

            Files.delete(dir);
            record(sink, "req-2");
            assertNull(sink.readinessProblem());
            assertEquals(1, logs.messages(LogUsageToCsvFile.class, Level.ERROR).size());
        }
        assertEquals(List.of("req-2"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
    }

    @Test
    void aDeletedLogDirIsCreatedAgainAndTheNextRowLandsInItsNewFile() throws IOException {
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir)) {
            record(sink, "req-1");
            deleteRecursively(dir);

            record(sink, "req-2");

            assertEquals(List.of("req-2"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
            assertNull(sink.readinessProblem());
        }
    }

    @Test
    void aFileMovedAwayIsStartedAgainWithItsHeaderAtItsName() throws IOException {
        try (LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir)) {
            record(sink, "req-1");
            Files.move(dir.resolve(FILE), dir.resolve("rotated.csv"));

            record(sink, "req-2");
        }
        assertEquals(List.of("req-1"), LogUsageToCsvFileTest.requestIds(dir.resolve("rotated.csv")));
        assertEquals(List.of("req-2"), LogUsageToCsvFileTest.requestIds(dir.resolve(FILE)));
    }

    @Test
    void aRecordAfterCloseIsLoggedAtErrorNotLost() {
        try (CapturedLogs logs = CapturedLogs.start()) {
            LogUsageToCsvFile sink = LogUsageToCsvFile.create(dir);
            sink.close();

            record(sink, "req-late");

            List<String> errors = logs.messages(LogUsageToCsvFile.class, Level.ERROR);
            assertEquals(1, errors.size(), errors.toString());
            assertTrue(errors.getFirst().contains("the sink is closed") && errors.getFirst().contains("req-late"),
                    errors.getFirst());
        }
    }

    private static void deleteRecursively(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
