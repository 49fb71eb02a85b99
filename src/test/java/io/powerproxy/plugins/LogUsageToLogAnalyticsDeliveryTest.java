package io.powerproxy.plugins;

import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.awaitTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.TestUsageRecord;
import io.powerproxy.usage.BatchingWriter;
import io.powerproxy.usage.Spool;
import io.powerproxy.usage.UsageRecord;
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

/** How rows get from the writer to Log Analytics when sending fails part way, with a scripted sender. */
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

    private static List<UsageRecord> records(String... ids) {
        List<UsageRecord> records = new ArrayList<>();
        for (String id : ids) {
            records.add(TestUsageRecord.of(id).build());
        }
        return List.copyOf(records);
    }

    private LogAnalyticsDelivery delivery(ScriptedSender sender, Duration firstRetry) throws Exception {
        return LogAnalyticsDelivery.start(sender, Spool.open(dir), UsageRecord::requestId, 500,
                new BatchingWriter.Backoff(firstRetry, firstRetry));
    }

    @Test
    void aBatchThatFailsPartWaySpoolsOnlyTheRestAndEveryRowArrivesOnceInOrder() throws Exception {
        ScriptedSender sender = new ScriptedSender(3);
        LogAnalyticsDelivery delivery = delivery(sender, Duration.ofMillis(20));
        try {
            delivery.write(records("a", "b", "c", "d", "e"));
            awaitTrue(() -> sender.accepted().size() == 5, "the rest is replayed");
        } finally {
            delivery.close(Duration.ofSeconds(5));
        }

        assertEquals(List.of("a", "b", "c", "d", "e"), sender.accepted());
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

    @Test
    void whileRowsAreSpooledNewBatchesQueueBehindThemInsteadOfOvertakingThem() throws Exception {
        OutageSender sender = new OutageSender();
        LogAnalyticsDelivery delivery = LogAnalyticsDelivery.start(sender, Spool.open(dir), UsageRecord::requestId, 500,
                new BatchingWriter.Backoff(Duration.ofMillis(20), Duration.ofMillis(20)));
        try {
            delivery.write(records("a", "b"));
            String problem = delivery.problem();
            assertTrue(problem.startsWith("Log Analytics unreachable since ") && problem.contains("Status code 503")
                    && problem.contains("2 records spooled to " + dir.resolve("spool.jsonl")), problem);
            delivery.write(records("c"));
            // However often the spool was retried meanwhile, every batch offered so far starts with the oldest row.
            assertTrue(sender.attempts.stream().allMatch(rows -> rows.getFirst().equals("a")),
                    "nothing overtakes the spool: " + sender.attempts);
            sender.up = true;
            awaitTrue(() -> sender.accepted.size() == 3, "the spool is sent");
            awaitTrue(() -> delivery.problem() == null, "recovered");
            delivery.write(records("d"));
            assertEquals(List.of("a", "b", "c", "d"), sender.accepted, "straight out once the spool is empty");
        } finally {
            delivery.close(Duration.ofSeconds(5));
        }
    }

    @Test
    void aRetriedBatchSendsOnlyWhatItHadNotSentBefore() throws Exception {
        ScriptedSender sender = new ScriptedSender(2);
        Spool spool = Spool.open(dir);
        LogAnalyticsDelivery delivery = LogAnalyticsDelivery.start(sender, spool, UsageRecord::requestId, 500,
                new BatchingWriter.Backoff(Duration.ofMillis(20), Duration.ofMillis(20)));
        List<UsageRecord> batch = records("a", "b", "c");
        spool.close();
        try {
            // The spool is closed: the rest of the batch cannot be spooled, so the writer would retry the same list.
            assertThrows(IOException.class, () -> delivery.write(batch));
            assertEquals(List.of("a", "b"), sender.accepted());
            delivery.write(batch);
            assertEquals(List.of("a", "b", "c"), sender.accepted());
        } finally {
            delivery.close(Duration.ofSeconds(5));
        }
    }
}
