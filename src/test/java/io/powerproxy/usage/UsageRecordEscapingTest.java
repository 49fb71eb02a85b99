package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.testing.TestUsageRecord;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A usage record's text fields never hold a control character, whoever made the record and from what. */
class UsageRecordEscapingTest {

    @Test
    void everyTextFieldIsEscapedWhenTheRecordIsMade() {
        UsageRecord record = TestUsageRecord.of("req\u0000").received(Instant.parse("2026-12-06T10:00:00Z"))
                .client("Team\nA").streaming(true).tokens(1, 2).roundtripMs(4.5).region("sweden\rcentral")
                .endpoint("Swe\u0007den").deployment("gpt-4o\r\nforged", "stand\u2028in").apiVersion("2024-10-21\n")
                .model("model\u202e").build();
        record = new UsageRecord(record.requestReceivedUtc(), record.client(), record.isStreaming(),
                record.promptTokens(), record.completionTokens(), record.totalTokens(), record.aoaiRoundtripTimeMs(),
                record.aoaiRegion(), record.aoaiEndpoint(), record.aoaiVirtualDeployment(),
                record.aoaiStandinDeployment(), record.aoaiApiVersion(), record.statusCode(), record.operation(),
                record.model(), record.usageSource(), record.requestId(), "trace\u001b[0m");

        assertEquals(List.of("2026-12-06T10:00:00Z", "Team\\nA", "true", "1", "2", "3", "4.5", "sweden\\rcentral",
                "Swe\\u0007den", "gpt-4o\\r\\nforged", "stand\\u2028in", "2024-10-21\\n", "200", "chat", "model\\u202e",
                "reported", "req\\u0000", "trace\\u001b[0m"), record.values());
    }
}
