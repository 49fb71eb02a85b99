package io.powerproxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * How long connect failures and timeouts block, with a fake clock: a second at first, doubling for each fault in a
 * row up to 10 s, one incident for a burst, and back to a second after an answer.
 */
class NetworkFaultBlocksTest {

    private final FakeClock clock = new FakeClock();

    private Balancer balancer() throws Exception {
        return Balancer.create(Configs.endpoints("""
                - name: Sweden
                  url: https://sweden.example.com
                  key: k1
                  virtual_deployments:
                    - name: gpt-4o
                      standins:
                        - name: gpt-4o-ptu
                - name: Plain
                  url: https://plain.example.com
                  key: k2
                """), clock, new SplittableRandom(7));
    }

    private static Target target(Balancer balancer, String describe) {
        return balancer.plan("gpt-4o", true).stream().filter(t -> t.describe().equals(describe)).findFirst()
                .orElseThrow();
    }

    @Test
    void theFirstConnectFailureBlocksTheEndpointForOneSecond() throws Exception {
        Balancer balancer = balancer();
        Target ptu = target(balancer, "Sweden/gpt-4o-ptu");

        assertEquals(Duration.ofSeconds(1), balancer.blockUnreachable(ptu.endpoint(), "could not be connected to"));

        clock.advance(Duration.ofMillis(999));
        assertTrue(balancer.isBlocked(ptu, "gpt-4o"));
        clock.advance(Duration.ofMillis(1));
        assertFalse(balancer.isBlocked(ptu, "gpt-4o"));
    }

    @Test
    void connectFailuresInARowDoubleTheBlockUpToTenSeconds() throws Exception {
        Balancer balancer = balancer();
        Endpoint sweden = target(balancer, "Sweden/gpt-4o-ptu").endpoint();
        List<Long> blocks = new ArrayList<>();

        for (int i = 0; i < 7; i++) {
            Duration block = balancer.blockUnreachable(sweden, "could not be connected to");
            blocks.add(block.toMillis());
            clock.advance(block);
        }

        assertEquals(List.of(1000L, 2000L, 4000L, 8000L, 10_000L, 10_000L, 10_000L), blocks);
    }

    @Test
    void anAnswerMakesTheNextConnectFailureCountAsTheFirstAgain() throws Exception {
        Balancer balancer = balancer();
        Target ptu = target(balancer, "Sweden/gpt-4o-ptu");
        clock.advance(balancer.blockUnreachable(ptu.endpoint(), "could not be connected to"));
        clock.advance(balancer.blockUnreachable(ptu.endpoint(), "could not be connected to"));

        balancer.answered(ptu, "gpt-4o");

        assertEquals(Duration.ofSeconds(1), balancer.blockUnreachable(ptu.endpoint(), "could not be connected to"));
    }

    @Test
    void aBurstOfFailuresThatEndWhileTheBlockRunsIsOneFaultAndDoesNotLengthenIt() throws Exception {
        Balancer balancer = balancer();
        Endpoint sweden = target(balancer, "Sweden/gpt-4o-ptu").endpoint();
        balancer.blockUnreachable(sweden, "could not be connected to within 2000 ms");
        clock.advance(Duration.ofMillis(300));

        for (int i = 0; i < 50; i++) {
            assertEquals(Duration.ofMillis(700), balancer.blockUnreachable(sweden, "could not be connected to within 2000 ms"),
                    "requests sent before the block began end in it");
        }

        clock.advance(Duration.ofMillis(700));
        assertEquals(Duration.ofSeconds(2), balancer.blockUnreachable(sweden, "could not be connected to"),
                "the next failure after the block is the second in a row, not the 52nd");
    }

    @Test
    void timeoutsDoublePerTargetAndAWholeEndpointCountsThemPerDeployment() throws Exception {
        Balancer balancer = balancer();
        Target plain = target(balancer, "Plain");
        clock.advance(balancer.blockTimedOut(plain, "gpt-4o", "did not answer within 120000 ms"));

        assertEquals(Duration.ofSeconds(2), balancer.blockTimedOut(plain, "gpt-4o", "did not answer within 120000 ms"));
        assertEquals(Duration.ofSeconds(1), balancer.blockTimedOut(plain, "embeddings", "did not answer within 120000 ms"));
        assertFalse(balancer.isBlocked(target(balancer, "Sweden/gpt-4o-ptu"), "gpt-4o"), "other targets go on");
    }

    @Test
    void anAnswerForOneDeploymentLeavesTheTimeoutsOfAnotherCounted() throws Exception {
        Balancer balancer = balancer();
        Target plain = target(balancer, "Plain");
        clock.advance(balancer.blockTimedOut(plain, "gpt-4o", "did not answer"));
        clock.advance(balancer.blockTimedOut(plain, "embeddings", "did not answer"));

        balancer.answered(plain, "embeddings");

        assertEquals(Duration.ofSeconds(2), balancer.blockTimedOut(plain, "gpt-4o", "did not answer"));
        assertEquals(Duration.ofSeconds(1), balancer.blockTimedOut(plain, "embeddings", "did not answer"));
    }

    @Test
    void aRetryAfterBlockKeepsItsLengthAndATimeoutAfterItCountsAsTheFirst() throws Exception {
        Balancer balancer = balancer();
        Target ptu = target(balancer, "Sweden/gpt-4o-ptu");

        assertEquals(Duration.ofSeconds(30), balancer.block(ptu, "gpt-4o", 429, h -> h.equals("retry-after") ? "30" : null));
        clock.advance(Duration.ofSeconds(10));
        assertEquals(Duration.ofSeconds(20), balancer.blockTimedOut(ptu, "gpt-4o", "did not answer"),
                "a timeout inside the 429's block leaves it as it is");
        clock.advance(Duration.ofSeconds(20));

        assertEquals(Duration.ofSeconds(1), balancer.blockTimedOut(ptu, "gpt-4o", "did not answer"));
    }

    @Test
    void theLogSaysHowLongEachFaultBlocksAndWhenAFaultFellIntoARunningBlock() throws Exception {
        Balancer balancer = balancer();
        Endpoint sweden = target(balancer, "Sweden/gpt-4o-ptu").endpoint();
        try (CapturedLogs logs = CapturedLogs.start()) {
            balancer.blockUnreachable(sweden, "could not be connected to (java.net.ConnectException)");
            clock.advance(Duration.ofMillis(400));
            balancer.blockUnreachable(sweden, "could not be connected to (java.net.ConnectException)");
            clock.advance(Duration.ofMillis(600));
            balancer.blockUnreachable(sweden, "could not be connected to (java.net.ConnectException)");

            assertEquals(List.of(
                    "INFO io.powerproxy.upstream.Balancer - Sweden could not be connected to (java.net.ConnectException):"
                            + " blocked for 1000 ms (network fault 1 in a row); trying the next target",
                    "INFO io.powerproxy.upstream.Balancer - Sweden could not be connected to (java.net.ConnectException):"
                            + " blocked already, for another 600 ms, since an earlier fault; trying the next target",
                    "INFO io.powerproxy.upstream.Balancer - Sweden could not be connected to (java.net.ConnectException):"
                            + " blocked for 2000 ms (network fault 2 in a row); trying the next target"),
                    logs.containing("Sweden could not"));
        }
    }
}
