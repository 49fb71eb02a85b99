package io.powerproxy.plugins;

import io.powerproxy.loganalytics.LogAnalyticsDelivery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.usage.Spool;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How journaled rows get to Log Analytics when sending fails part way, with a scripted sender. */
class LogUsageToLogAnalyticsDeliveryTest {

    @TempDir
    Path dir;

    /** Accepts rows until a scripted number of them, then fails once with 503; records what it accepted. */
    private static final class ScriptedSender implements LogAnalyticsDelivery.Sender {

        private final List<String> accepted = new ArrayList<>();
        private final AtomicInteger acceptBeforeFailing;

        ScriptedSender(int acceptBeforeFailing) {
            this.acceptBeforeFailing = new AtomicInteger(acceptBeforeFailing);
        }

        @Override
        public synchronized LogAnalyticsDelivery.Result send(List<String> rows) {
            int budget = acceptBeforeFailing.get();
            if (budget < 0 || budget >= rows.size()) {
                acceptBeforeFailing.set(budget < 0 ? budget : budget - rows.size());
                accepted.addAll(rows);
                return new LogAnalyticsDelivery.Result(rows.size(), null);
            }
            accepted.addAll(rows.subList(0, budget));
            acceptBeforeFailing.set(-1);
            return new LogAnalyticsDelivery.Result(budget,
                    new LogAnalyticsDelivery.Failure(Instant.now(), 503, "Status code 503, (empty body)", null));
        }

        synchronized List<String> accepted() {
            return List.copyOf(accepted);
        }
    }

    /** A Log Analytics that refuses every batch until it is brought up, and keeps every batch it was offered. */
    private static final class OutageSender implements LogAnalyticsDelivery.Sender {
        private final List<List<String>> attempts = new CopyOnWriteArrayList<>();
        private final List<String> accepted = new CopyOnWriteArrayList<>();
        private volatile boolean up;

        @Override
        public LogAnalyticsDelivery.Result send(List<String> rows) {
            attempts.add(List.copyOf(rows));
            if (!up) {
                return new LogAnalyticsDelivery.Result(0,
                        new LogAnalyticsDelivery.Failure(Instant.now(), 503, "Status code 503, (empty body)", null));
            }
            accepted.addAll(rows);
            return new LogAnalyticsDelivery.Result(rows.size(), null);
        }
    }

    private LogAnalyticsDelivery delivery(LogAnalyticsDelivery.Sender sender, Duration firstRetry) throws Exception {
        return LogAnalyticsDelivery.start(sender, Spool.open(dir), 500, Duration.ofMillis(10),
                new LogAnalyticsDelivery.Backoff(firstRetry, firstRetry));
    }

    private static void journal(LogAnalyticsDelivery delivery, String... rows) throws IOException {
        for (String row : rows) {
            delivery.journal(row);
        }
    }

    @Test
    void aBatchThatFailsPartWaySendsOnlyTheRestAgainAndEveryRowArrivesOnceInOrder() throws Exception {
        ScriptedSender sender = new ScriptedSender(3);
        LogAnalyticsDelivery delivery = delivery(sender, Duration.ofMillis(20));
        try {
            journal(delivery, "a", "b", "c", "d", "e");
            Await.until("the rest is sent again", () -> sender.accepted().size() == 5);
        } finally {
            delivery.close(Duration.ofSeconds(5));
        }

        assertEquals(List.of("a", "b", "c", "d", "e"), sender.accepted());
    }

    @Test
    void whileTheServiceFailsNewRowsWaitBehindTheOlderOnesInsteadOfOvertakingThem() throws Exception {
        OutageSender sender = new OutageSender();
        LogAnalyticsDelivery delivery = delivery(sender, Duration.ofMillis(20));
        try {
            journal(delivery, "a", "b");
            Await.until("the failure is noticed", () -> delivery.problem() != null);
            String problem = delivery.problem();
            assertTrue(problem.startsWith("Log Analytics unreachable since ") && problem.contains("Status code 503")
                    && problem.contains("2 records spooled to " + dir), problem);
            journal(delivery, "c");
            Await.until("the new row waits too", () -> delivery.problem().contains("3 records spooled"));
            Await.until("a retry with the new row", () -> sender.attempts.stream().anyMatch(rows -> rows.size() == 3));
            // However often the journal was retried meanwhile, every batch offered so far starts with the oldest row.
            assertTrue(sender.attempts.stream().allMatch(rows -> rows.getFirst().equals("a")),
                    "nothing overtakes the waiting rows: " + sender.attempts);
            sender.up = true;
            Await.until("the journal is sent", () -> sender.accepted.size() == 3);
            Await.until("recovered", () -> delivery.problem() == null);
            journal(delivery, "d");
            Await.until("later rows are sent", () -> sender.accepted.size() == 4);
            assertEquals(List.of("a", "b", "c", "d"), sender.accepted);
        } finally {
            delivery.close(Duration.ofSeconds(5));
        }
    }
}
