package io.powerproxy.budgets;

import static io.powerproxy.budgets.CircuitBreaker.Permit.CALL;
import static io.powerproxy.budgets.CircuitBreaker.Permit.SKIP;
import static io.powerproxy.budgets.CircuitBreaker.Permit.TRIAL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.CircuitBreaker.Permit;
import io.powerproxy.testing.FakeClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The breaker in front of Redis skips it after a failure and lets exactly one trial through per period. */
class CircuitBreakerTest {

    private final FakeClock clock = new FakeClock();
    private final CircuitBreaker breaker = CircuitBreaker.create(Duration.ofSeconds(1), clock);

    @Test
    void aClosedBreakerLetsEveryCallThrough() {
        assertEquals(CALL, breaker.permit());
        assertEquals(CALL, breaker.permit());
        assertFalse(breaker.isOpen());
    }

    @Test
    void theFirstFailureOpensTheBreakerAndOnlyItSaysSo() {
        assertTrue(breaker.failed(CALL), "the first failure starts the outage");
        assertFalse(breaker.failed(CALL), "later failures of calls already under way do not start another");

        assertTrue(breaker.isOpen());
        assertEquals(SKIP, breaker.permit());
    }

    @Test
    void afterThePeriodExactlyOneCallerGetsTheTrial() {
        breaker.failed(CALL);
        clock.advance(Duration.ofMillis(999));
        assertEquals(SKIP, breaker.permit());

        clock.advance(Duration.ofMillis(1));

        assertEquals(TRIAL, breaker.permit());
        assertEquals(SKIP, breaker.permit(), "while the trial runs, the others skip");
    }

    @Test
    void aSuccessfulTrialClosesTheBreaker() {
        breaker.failed(CALL);
        clock.advance(Duration.ofSeconds(1));
        Permit trial = breaker.permit();

        assertTrue(breaker.succeeded(trial), "this success ends the outage");

        assertFalse(breaker.isOpen());
        assertEquals(CALL, breaker.permit());
    }

    @Test
    void aFailedTrialKeepsTheBreakerOpenForAnotherPeriod() {
        breaker.failed(CALL);
        clock.advance(Duration.ofSeconds(1));
        Permit trial = breaker.permit();
        clock.advance(Duration.ofMillis(300));

        assertFalse(breaker.failed(trial), "the outage goes on; it did not start again");

        clock.advance(Duration.ofMillis(999));
        assertEquals(SKIP, breaker.permit(), "the period counts from the failed trial");
        clock.advance(Duration.ofMillis(1));
        assertEquals(TRIAL, breaker.permit());
    }

    @Test
    void aLateSuccessOfACallThatStartedBeforeTheFailureDoesNotCloseTheBreaker() {
        Permit early = breaker.permit();
        breaker.failed(CALL);

        assertFalse(breaker.succeeded(early));

        assertTrue(breaker.isOpen());
    }

    @Test
    void aTrialThatNeverReportsBackDoesNotKeepTheStoreSkippedForever() {
        breaker.failed(CALL);
        clock.advance(Duration.ofSeconds(1));
        assertEquals(TRIAL, breaker.permit());

        clock.advance(Duration.ofSeconds(1));

        assertEquals(TRIAL, breaker.permit());
    }

    @Test
    void ofManyConcurrentCallersOnlyOneGetsTheTrial() throws Exception {
        breaker.failed(CALL);
        clock.advance(Duration.ofSeconds(1));
        List<Future<Permit>> permits = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 1000; i++) {
                permits.add(threads.submit(breaker::permit));
            }
        }
        int trials = 0;
        for (Future<Permit> permit : permits) {
            trials += permit.get() == TRIAL ? 1 : 0;
        }

        assertEquals(1, trials);
    }
}
