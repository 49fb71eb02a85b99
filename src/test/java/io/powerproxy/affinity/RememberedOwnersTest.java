package io.powerproxy.affinity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.FakeClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The owners one process remembers: each until it expires, and never more than the bound. */
class RememberedOwnersTest {

    private final FakeClock clock = new FakeClock();

    @Test
    void anOwnerIsForgottenWhenItExpires() {
        RememberedOwners owners = new RememberedOwners(100, clock);
        owners.remember("file-1", "EastUS", 1000);

        clock.advance(Duration.ofMillis(999));
        assertEquals("EastUS", owners.owner("file-1"));
        clock.advance(Duration.ofMillis(1));
        assertNull(owners.owner("file-1"));
        assertEquals(0, owners.size(), "an expired entry found is dropped");
    }

    @Test
    void theMapNeverHoldsMoreThanItsBoundAndDropsThoseThatExpireFirst() {
        RememberedOwners owners = new RememberedOwners(100, clock);
        for (int i = 0; i < 1000; i++) {
            owners.remember("file-" + i, "EastUS", 1_000_000 + i);
            assertTrue(owners.size() <= 100, "size " + owners.size() + " after " + i);
        }

        assertEquals("EastUS", owners.owner("file-999"), "the newest stays");
        assertNull(owners.owner("file-0"), "the first to expire went first");
    }

    @Test
    void forgettingDropsTheOwner() {
        RememberedOwners owners = new RememberedOwners(100, clock);
        owners.remember("file-1", "EastUS", 1000);

        owners.forget("file-1");

        assertNull(owners.owner("file-1"));
    }
}
