package io.powerproxy.budgets;

import static io.powerproxy.budgets.CircuitBreaker.Permit.CALL;
import static io.powerproxy.budgets.CircuitBreaker.Permit.SKIP;
import static io.powerproxy.budgets.CircuitBreaker.Permit.TRIAL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.FakeClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A breaker that opens only after three failed calls in a row: a success between failures starts the count again. */
class CircuitBreakerThresholdTest {

    private final FakeClock clock = new FakeClock();
    private final CircuitBreaker breaker = CircuitBreaker.create(Duration.ofSeconds(1), 3, clock);

    @Test
    void twoFailedCallsLeaveItClosedAndTheThirdInARowOpensIt() {
        assertFalse(breaker.failed(CALL));
        assertFalse(breaker.failed(CALL));
        assertEquals(CALL, breaker.permit(), "two failures are no outage yet");

        assertTrue(breaker.failed(CALL), "the third in a row starts the outage");

        assertEquals(SKIP, breaker.permit());
        assertFalse(breaker.failed(CALL), "later failures do not start another");
    }

    @Test
    void aSuccessfulCallBetweenFailuresStartsTheCountAgain() {
        breaker.failed(CALL);
        breaker.failed(CALL);

        assertFalse(breaker.succeeded(CALL), "a call's success closes nothing: nothing was open");

        assertFalse(breaker.failed(CALL));
        assertFalse(breaker.failed(CALL), "the second failure since the success");
        assertEquals(CALL, breaker.permit());
    }

    @Test
    void onceOpenItRecoversByATrialAsBeforeAndCountsFromZeroAfterwards() {
        breaker.failed(CALL);
        breaker.failed(CALL);
        breaker.failed(CALL);
        clock.advance(Duration.ofSeconds(1));
        assertEquals(TRIAL, breaker.permit());

        assertTrue(breaker.succeeded(TRIAL));

        assertFalse(breaker.failed(CALL), "one failure after the recovery is not a new outage");
        assertEquals(CALL, breaker.permit());
    }

    @Test
    void aThresholdBelowOneIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> CircuitBreaker.create(Duration.ofSeconds(1), 0, clock));
    }
}
