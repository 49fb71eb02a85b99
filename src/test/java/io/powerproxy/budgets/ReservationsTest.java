package io.powerproxy.budgets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.RedisSettings.FailMode;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.RedisServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Reservations in each store: checked and booked in one atomic step (so concurrent callers never hold more than the
 * budget together), settled to what was used, and in Redis kept in step with the replica's own count.
 */
class ReservationsTest {

    private static final long MINUTE = 29_401_200;

    private final FakeClock breakerClock = new FakeClock();

    /** Reserves 100 tokens 200 times at once against a budget of 1,050; returns how many were granted. */
    private static long grantedOfTwoHundredAtOnce(TokenBudgets budgets) throws Exception {
        List<Future<Reservation>> reservations = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 200; i++) {
                reservations.add(threads.submit(() -> budgets.reserve("Team 1", "gpt-4o", MINUTE, 100, 1_050)));
            }
        }
        long granted = 0;
        for (Future<Reservation> reservation : reservations) {
            granted += reservation.get(30, TimeUnit.SECONDS).granted() ? 1 : 0;
        }
        return granted;
    }

    private FailoverTokenBudgets failover(RedisServer redis, FailMode failMode) {
        RedisSettings settings = new RedisSettings("127.0.0.1", redis.port(), null, null, false, 2_000, 2_000, failMode);
        return FailoverTokenBudgets.create(RedisTokenBudgets.create(settings, RedisOptions.DEFAULTS), settings.address(),
                failMode, CircuitBreaker.create(Duration.ofSeconds(1), breakerClock), () -> 1_764_072_015_000L);
    }

    @Test
    void twoHundredConcurrentReservationsHoldNoMoreThanTheLocalBudget() throws Exception {
        LocalTokenBudgets budgets = new LocalTokenBudgets();

        assertEquals(10, grantedOfTwoHundredAtOnce(budgets));
        assertEquals(1_000, budgets.used("Team 1", "gpt-4o", MINUTE));
    }

    @Test
    void twoHundredConcurrentReservationsHoldNoMoreThanTheBudgetInRedis() throws Exception {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(RedisTokenBudgetsTest.plain(redis),
                        RedisOptions.DEFAULTS);
                Jedis jedis = redis.client()) {

            assertEquals(10, grantedOfTwoHundredAtOnce(budgets));
            assertEquals("1000", jedis.get(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE)));
            long ttl = jedis.ttl(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE));
            assertTrue(ttl > 60 && ttl <= 120, "the key expires on its own: TTL " + ttl);
        }
    }

    @Test
    void settlingAddsTheDifferenceToTheMinuteOfTheReservationAndNeverGoesBelowZero() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets shared = RedisTokenBudgets.create(RedisTokenBudgetsTest.plain(redis),
                        RedisOptions.DEFAULTS);
                Jedis jedis = redis.client()) {
            for (TokenBudgets budgets : List.of(new LocalTokenBudgets(), shared)) {
                Reservation small = budgets.reserve("Team 1", "gpt-4o", MINUTE, 900, 1_000);
                Reservation large = budgets.reserve("Team 1", "gpt-4o", MINUTE, 200, 1_000);
                assertTrue(small.granted());
                assertFalse(large.granted());
                assertEquals(900, large.used(), "a refusal tells what the minute holds");

                budgets.settle(small, 10);
                assertEquals(10, budgets.used("Team 1", "gpt-4o", MINUTE), budgets.getClass().getSimpleName());
                budgets.settle(budgets.reserve("Team 1", "gpt-4o", MINUTE, 50, 1_000), 70);
                assertEquals(80, budgets.used("Team 1", "gpt-4o", MINUTE), "a request that used more books it");

                budgets.settle(new Reservation("Team 1", "gpt-4o", MINUTE, 500, true, 500, true), 0);
                assertEquals(0, budgets.used("Team 1", "gpt-4o", MINUTE), budgets.getClass().getSimpleName());
                jedis.flushAll();
            }
            shared.settle(new Reservation("Team 1", "gpt-4o", MINUTE - 5, 500, true, 500, true), 900);
            assertFalse(jedis.exists(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE - 5)),
                    "the counter of a minute long over is not made again");
        }
    }

    @Test
    void redisAdmitsARequestLargerThanTheBudgetOnlyIntoAnUntouchedMinuteAndNothingIntoABudgetOfZero() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(RedisTokenBudgetsTest.plain(redis),
                        RedisOptions.DEFAULTS)) {

            assertFalse(budgets.reserve("Team 1", "gpt-4o", MINUTE, 1, 0).granted());
            assertTrue(budgets.reserve("Team 1", "gpt-4o", MINUTE, 5_000, 1_000).granted());
            assertFalse(budgets.reserve("Team 1", "gpt-4o", MINUTE, 1, 1_000).granted());
            assertEquals(5_000, budgets.used("Team 1", "gpt-4o", MINUTE));
        }
    }

    @Test
    void withRedisTheReplicasOwnCountHoldsItsReservationsTooAndRefusesWhenRedisForgotThem() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = failover(redis, FailMode.OPEN);
                Jedis jedis = redis.client()) {
            Reservation held = budgets.reserve("Team 1", "gpt-4o", MINUTE, 800, 1_000);
            assertTrue(held.granted() && held.shared());

            jedis.flushAll();

            assertFalse(budgets.reserve("Team 1", "gpt-4o", MINUTE, 300, 1_000).granted(),
                    "this replica knows it holds 800");
            budgets.settle(held, 100);
            assertTrue(budgets.reserve("Team 1", "gpt-4o", MINUTE, 300, 1_000).granted());
        }
    }

    @Test
    void whileRedisIsDownReservationsAreHeldLocallyAndSettledIntoRedisOnceItIsBack() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = failover(redis, FailMode.OPEN)) {
            budgets.reserve("Team 1", "gpt-4o", MINUTE, 10, 1_000);

            redis.kill();
            List<Reservation> held = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                held.add(budgets.reserve("Team 1", "gpt-4o", MINUTE, 100, 1_000));
            }
            assertEquals(9, held.stream().filter(Reservation::granted).count(), "the local count holds 10 + 9 x 100");
            assertTrue(held.stream().noneMatch(Reservation::shared));
            assertTrue(budgets.problem() != null);

            redis.restart();
            // Each try moves the breaker's clock on, as time does for a real replica, so that a probe that failed
            // right after the restart is followed by another.
            Await.until("Redis is used again", () -> {
                breakerClock.advance(Duration.ofMillis(500));
                budgets.used("Team 1", "gpt-4o", MINUTE);
                return budgets.problem() == null;
            });
            budgets.settle(held.get(0), 40);

            try (Jedis jedis = redis.client()) {
                assertEquals("40", jedis.get(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE)),
                        "a hold Redis never saw is settled there by what was used");
            }
            assertEquals(850, budgets.used("Team 1", "gpt-4o", MINUTE), "10 + 40 + 8 x 100 in the local count");
        }
    }

    @Test
    void withFailModeClosedNoReservationIsMadeWhileRedisIsDown() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = failover(redis, FailMode.CLOSED)) {
            redis.kill();
            for (int i = 0; i < 3; i++) {
                try {
                    budgets.reserve("Team 1", "gpt-4o", MINUTE, 1, 1_000);
                } catch (TokenBudgets.StoreUnavailableException expected) {
                    // The breaker opens after three failed calls; until then a call may be answered locally.
                }
            }

            assertThrows(TokenBudgets.StoreUnavailableException.class,
                    () -> budgets.reserve("Team 1", "gpt-4o", MINUTE, 1, 1_000));
        }
    }
}
