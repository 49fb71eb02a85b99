package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A usage record's text fields never hold a control character, whoever made the record and from what. */
class UsageRecordEscapingTest {

    @Test
    void everyTextFieldIsEscapedWhenTheRecordIsMade() {
        UsageRecord record = new UsageRecord(Instant.parse("2026-12-06T10:00:00Z"), "Team\nA", true, 1, 2, 3, 4.5,
                "sweden\rcentral", "Swe\u0007den", "gpt-4o\r\nforged", "stand\u2028in", "2024-10-21\n", 200,
                UsageRecord.Operation.CHAT, "model\u202e", UsageRecord.UsageSource.REPORTED, "req\u0000");

        assertEquals(List.of("2026-12-06T10:00:00Z", "Team\\nA", "true", "1", "2", "3", "4.5", "sweden\\rcentral",
                "Swe\\u0007den", "gpt-4o\\r\\nforged", "stand\\u2028in", "2024-10-21\\n", "200", "chat", "model\\u202e",
                "reported", "req\\u0000"), record.values());
    }
}
