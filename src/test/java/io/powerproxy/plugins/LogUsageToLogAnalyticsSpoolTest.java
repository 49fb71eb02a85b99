package io.powerproxy.plugins;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.usage.Spool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spool behind LogUsageToLogAnalytics: first in, first out, on disk, across restarts and crashes. */
class LogUsageToLogAnalyticsSpoolTest {

    @TempDir
    Path dir;

    private static List<String> lines(List<Spool.Entry> entries) {
        return entries.stream().map(Spool.Entry::line).toList();
    }

    @Test
    void linesComeOutInTheOrderTheyWentInUntilAcknowledged() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("{\"n\":1}", "{\"n\":2}"));
            spool.append(List.of("{\"n\":3}"));

            List<Spool.Entry> firstTwo = spool.peek(2, Long.MAX_VALUE);
            assertEquals(List.of("{\"n\":1}", "{\"n\":2}"), lines(firstTwo));
            assertEquals(List.of("{\"n\":1}", "{\"n\":2}"), lines(spool.peek(2, Long.MAX_VALUE)), "peek removes nothing");
            spool.acknowledge(firstTwo.subList(0, 1));
            assertEquals(2, spool.pending());
            assertEquals(List.of("{\"n\":2}", "{\"n\":3}"), lines(spool.peek(10, Long.MAX_VALUE)));
        }
    }

    @Test
    void whatIsNotAcknowledgedIsThereAgainAfterARestart() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("a", "b", "c", "ü"));
            spool.acknowledge(spool.peek(1, Long.MAX_VALUE));
        }
        try (Spool spool = Spool.open(dir)) {
            assertEquals(3, spool.pending());
            assertEquals(List.of("b", "c", "ü"), lines(spool.peek(10, Long.MAX_VALUE)));
        }
    }

    @Test
    void acknowledgingEverythingEmptiesTheFile() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("a", "b"));
            spool.acknowledge(spool.peek(10, Long.MAX_VALUE));
            assertTrue(spool.isEmpty());
            assertEquals(0, Files.size(spool.file()));
            assertTrue(Files.notExists(dir.resolve("spool.offset")));
            spool.append(List.of("c"));
            assertEquals(List.of("c"), lines(spool.peek(10, Long.MAX_VALUE)));
        }
    }

    @Test
    void aPeekStopsAtTheByteBudgetButAlwaysReturnsTheFirstLine() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("x".repeat(100), "y".repeat(50), "z"));

            assertEquals(1, spool.peek(10, 10).size());
            assertEquals(2, spool.peek(10, 150).size());
            assertEquals(3, spool.peek(10, 151).size());
        }
    }

    @Test
    void aLineCutShortByACrashIsDroppedAndTheRestKept() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("{\"n\":1}"));
        }
        Files.writeString(dir.resolve("spool-0000000000000000000.jsonl"), "{\"n\":2", UTF_8, StandardOpenOption.APPEND);

        try (Spool spool = Spool.open(dir)) {
            assertEquals(List.of("{\"n\":1}"), lines(spool.peek(10, Long.MAX_VALUE)));
            spool.append(List.of("{\"n\":3}"));
            assertEquals(List.of("{\"n\":1}", "{\"n\":3}"), lines(spool.peek(10, Long.MAX_VALUE)));
        }
    }

    @Test
    void anOffsetLeftBehindByACrashWhileEmptyingMeansNothingIsPending() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("a", "b"));
        }
        Files.writeString(dir.resolve("spool.offset"), "4");

        try (Spool spool = Spool.open(dir)) {
            assertTrue(spool.isEmpty());
        }
    }

    @Test
    void onlyTheFrontCanBeAcknowledged() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            spool.append(List.of("a", "b"));
            List<Spool.Entry> entries = spool.peek(10, Long.MAX_VALUE);

            assertThrows(IllegalStateException.class, () -> spool.acknowledge(entries.subList(1, 2)));
        }
    }

    @Test
    void aSecondSpoolOnTheSameDirectoryIsRefusedUntilTheFirstCloses() throws IOException {
        Spool first = Spool.open(dir);
        IOException e = assertThrows(IOException.class, () -> Spool.open(dir));
        assertTrue(e.getMessage().contains("is in use by another process"), e.getMessage());
        first.close();
        Spool.open(dir).close();
    }

    @Test
    void linesWithLineBreaksAreRefused() throws IOException {
        try (Spool spool = Spool.open(dir)) {
            assertThrows(IllegalArgumentException.class, () -> spool.append(List.of("a\nb")));
            assertTrue(spool.isEmpty());
        }
    }
}
