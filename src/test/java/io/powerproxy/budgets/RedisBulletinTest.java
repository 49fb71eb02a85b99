package io.powerproxy.budgets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.powerproxy.upstream.Bulletin;
import org.junit.jupiter.api.Test;

/** How a replica reads a notice from another: its own ignored, the time in transit taken off, nonsense dropped. */
class RedisBulletinTest {

    private static String notice(String from, String kind, long at, long lasts) {
        return "{\"from\":\"" + from + "\",\"kind\":\"" + kind + "\",\"endpoint\":\"Sweden\",\"deployment\":\"gpt-4o\","
                + "\"at\":" + at + ",\"for\":" + lasts + ",\"tokens\":120,\"requests\":-1}";
    }

    @Test
    void aNoticeHoldsForWhatIsLeftOfItWhenItArrives() {
        Bulletin.Notice notice = RedisBulletin.decode(notice("other", "BLOCKED", 1000, 30_000), "self", 1040);

        assertEquals(new Bulletin.Notice(Bulletin.Kind.BLOCKED, "Sweden", "gpt-4o", 29_960, 120, -1), notice);
    }

    @Test
    void aSenderWhoseClockIsAheadGainsNothing() {
        assertEquals(30_000, RedisBulletin.decode(notice("other", "LOW", 5000, 30_000), "self", 1000).forMillis());
    }

    @Test
    void aReplicasOwnNoticeIsIgnored() {
        assertNull(RedisBulletin.decode(notice("self", "BLOCKED", 1000, 30_000), "self", 1000));
    }

    @Test
    void aNoticeThatIsOverWhenItArrivesIsDropped() {
        assertNull(RedisBulletin.decode(notice("other", "BLOCKED", 1000, 30_000), "self", 31_000));
    }

    @Test
    void aNoticeHoldsADayAtMost() {
        assertEquals(RedisBulletin.LONGEST_MILLIS,
                RedisBulletin.decode(notice("other", "BLOCKED", 0, Long.MAX_VALUE), "self", 0).forMillis());
    }

    @Test
    void whatIsNotANoticeIsDropped() {
        assertNull(RedisBulletin.decode("not json", "self", 0));
        assertNull(RedisBulletin.decode("[1,2]", "self", 0));
        assertNull(RedisBulletin.decode(notice("other", "OPEN", 0, 1000), "self", 0));
        assertNull(RedisBulletin.decode("{\"from\":\"other\",\"kind\":\"BLOCKED\",\"for\":1000}", "self", 0));
    }
}
