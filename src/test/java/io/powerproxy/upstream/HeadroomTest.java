package io.powerproxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The rate limit a target has left, as its answers said and less what was sent to it since. */
class HeadroomTest {

    private final Headroom headroom = new Headroom();

    private Headroom.Ticket take(long now, long demand) {
        return headroom.take(now, () -> demand, 0, 1, false);
    }

    @Test
    void aTargetNothingIsKnownOfLetsEveryRequestGoWithoutAskingItsDemand() {
        Headroom.Ticket ticket = headroom.take(0, () -> {
            throw new AssertionError("the demand was asked for with no count in force");
        }, 0, 1, false);

        assertNotNull(ticket);
        assertEquals(Headroom.UNKNOWN, headroom.spareTokens(0));
    }

    @Test
    void aRequestThatNeedsMoreThanTheTargetHasLeftIsTurnedAway() {
        headroom.observe(0, take(0, 100), 500, -1, 60_000);

        assertNull(take(1, 501));
        assertNotNull(take(1, 500));
    }

    @Test
    void requestsSentSinceTheLastAnswerComeOffItsCountSoThatConcurrentOnesCannotAllPass() {
        headroom.observe(0, take(0, 100), 3000, -1, 60_000);

        assertNotNull(take(1, 1000));
        assertNotNull(take(1, 1000));
        assertNotNull(take(1, 1000));
        assertNull(take(1, 1000));
        assertEquals(0, headroom.spareTokens(1));
    }

    @Test
    void aRequestTurnedAwayGivesBackWhatItReserved() {
        headroom.observe(0, take(0, 100), 1500, -1, 60_000);

        assertNull(take(1, 2000));
        assertEquals(1500, headroom.spareTokens(1));
    }

    @Test
    void anAnswerCountsOnlyTheRequestsSentAfterItsOwn() {
        Headroom.Ticket first = take(0, 100);
        headroom.observe(0, first, 3000, -1, 60_000);
        Headroom.Ticket second = take(1, 1000);
        take(2, 1000);

        // The second request's answer already includes it and the ones before; the third is still in flight.
        headroom.observe(3, second, 1500, -1, 60_000);

        assertEquals(500, headroom.spareTokens(3));
    }

    @Test
    void anAnswerToAnOlderRequestDoesNotReplaceTheCountOfANewerOne() {
        headroom.observe(0, take(0, 10), 10_000, -1, 60_000);
        Headroom.Ticket older = take(1, 10);
        Headroom.Ticket newer = take(2, 10);

        assertTrue(headroom.observe(3, newer, 200, -1, 60_000));
        assertFalse(headroom.observe(4, older, 9000, -1, 60_000));

        assertEquals(200, headroom.spareTokens(4));
    }

    @Test
    void theCountExpiresWhenTheWindowTurnsOverAndTheTargetIsUsedAgain() {
        headroom.observe(0, take(0, 10), 0, -1, 5000);

        assertNull(take(4999, 10));
        assertNotNull(take(5000, 10));
        assertEquals(Headroom.UNKNOWN, headroom.spareTokens(5000));
    }

    @Test
    void theFloorTurnsAwayEvenASmallRequest() {
        headroom.observe(0, take(0, 10), 900, -1, 60_000);

        assertNull(headroom.take(1, () -> 10, 1000, 1, false));
        assertNotNull(headroom.take(1, () -> 10, 800, 1, false));
    }

    @Test
    void aTargetWithNoRequestsLeftIsTurnedAwayWhateverItsTokens() {
        headroom.observe(0, take(0, 10), 100_000, 0, 60_000);

        assertNull(take(1, 10));
    }

    @Test
    void aTargetWithRequestsLeftTakesThatManyMore() {
        headroom.observe(0, take(0, 10), -1, 2, 60_000);

        assertNotNull(take(1, 10));
        assertNotNull(take(1, 10));
        assertNull(take(1, 10));
    }

    @Test
    void aForcedTicketIsTakenEvenWhenTooLittleIsLeft() {
        headroom.observe(0, take(0, 10), 100, -1, 60_000);

        assertNotNull(headroom.take(1, () -> 1000, 0, 1, true));
        assertEquals(-900, headroom.spareTokens(1));
    }

    @Test
    void aCountAnotherReplicaSawIsInForceUntilItExpiresAndWhatIsSentAfterComesOff() {
        headroom.observeShared(10, 1200, -1, 1010);

        assertNotNull(take(11, 1000));
        assertNull(take(11, 1000));
        assertNotNull(take(1010, 1000));
    }

    @Test
    void lowNoticesArePostedAtMostOncePerGap() {
        assertTrue(headroom.mayPost(0, 100));
        assertFalse(headroom.mayPost(99, 100));
        assertTrue(headroom.mayPost(100, 100));
    }
}
