package io.powerproxy.upstream;

import static io.powerproxy.testing.Configs.endpoints;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.FakeClock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/** The order of targets, weights, non-streaming fractions and blocking, with a fake clock and a seeded random. */
class BalancerTest {

    private final FakeClock clock = new FakeClock();
    private final RandomGenerator random = new SplittableRandom(42);

    private static final String TWO_REGIONS = """
            - name: Sweden
              url: https://sweden.example.com
              key: k1
              virtual_deployments:
                - name: gpt-4o
                  standins:
                    - name: gpt-4o-ptu
                    - name: gpt-4o-paygo
            - name: EastUS
              url: https://eastus.example.com
              key: k2
              virtual_deployments:
                - name: gpt-4o
                  standins:
                    - name: gpt-4o-paygo
            """;

    private static List<String> names(List<Target> plan) {
        return plan.stream().map(Target::describe).toList();
    }

    @Test
    void withoutPrioritiesTargetsAreTriedInConfigOrderLikeTheOriginal() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);

        for (int i = 0; i < 50; i++) {
            assertEquals(List.of("Sweden/gpt-4o-ptu", "Sweden/gpt-4o-paygo", "EastUS/gpt-4o-paygo"),
                    names(balancer.plan("gpt-4o", false)));
        }
    }

    @Test
    void explicitPrioritiesOverrideConfigOrderAtBothLevels() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS
                .replace("key: k1", "key: k1\n  priority: 5")
                .replace("- name: gpt-4o-ptu", "- {name: gpt-4o-ptu, priority: 9}")), clock, random);

        assertEquals(List.of("EastUS/gpt-4o-paygo", "Sweden/gpt-4o-paygo", "Sweden/gpt-4o-ptu"),
                names(balancer.plan("gpt-4o", true)));
    }

    @Test
    void equalPrioritiesAreDrawnByWeight() throws Exception {
        Balancer balancer = Balancer.create(endpoints("""
                - name: Big
                  url: https://big.example.com
                  key: k1
                  priority: 0
                  weight: 3
                - name: Small
                  url: https://small.example.com
                  key: k2
                  priority: 0
                  weight: 1
                """), clock, random);

        Map<String, Integer> first = new HashMap<>();
        for (int i = 0; i < 4000; i++) {
            List<Target> plan = balancer.plan("any-deployment", false);
            assertEquals(2, plan.size(), "every target stays in the plan, only the order is drawn");
            first.merge(plan.get(0).describe(), 1, Integer::sum);
        }
        assertEquals(0.75, first.get("Big") / 4000.0, 0.03);
    }

    @Test
    void nonStreamingRequestsSkipATargetByItsNonStreamingFraction() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS
                .replace("- name: gpt-4o-ptu", "- {name: gpt-4o-ptu, non_streaming_fraction: 0.2}")), clock, random);

        int withPtu = 0;
        for (int i = 0; i < 5000; i++) {
            if (names(balancer.plan("gpt-4o", false)).contains("Sweden/gpt-4o-ptu")) {
                withPtu++;
            }
        }
        assertEquals(0.2, withPtu / 5000.0, 0.02);
        for (int i = 0; i < 200; i++) {
            assertEquals("Sweden/gpt-4o-ptu", balancer.plan("gpt-4o", true).get(0).describe(),
                    "streaming requests never skip");
        }
    }

    @Test
    void aBlockedTargetIsSkippedUntilItsTimeHasPassed() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);
        Target ptu = balancer.plan("gpt-4o", true).get(0);

        Duration blocked = balancer.block(ptu, "gpt-4o", 429, header -> header.equals("retry-after-ms") ? "1500" : null);

        assertEquals(Duration.ofMillis(1500), blocked);
        assertTrue(balancer.isBlocked(ptu, "gpt-4o"));
        clock.advance(Duration.ofMillis(1499));
        assertTrue(balancer.isBlocked(ptu, "gpt-4o"));
        clock.advance(Duration.ofMillis(2));
        assertFalse(balancer.isBlocked(ptu, "gpt-4o"));
    }

    @Test
    void aShorterBlockNeverShortensALongerOne() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);
        Target ptu = balancer.plan("gpt-4o", true).get(0);

        balancer.block(ptu, "gpt-4o", 429, header -> header.equals("retry-after") ? "60" : null);
        balancer.block(ptu, "gpt-4o", 503, header -> header.equals("retry-after-ms") ? "10" : null);
        clock.advance(Duration.ofSeconds(30));

        assertTrue(balancer.isBlocked(ptu, "gpt-4o"));
    }

    @Test
    void aWholeEndpointIsBlockedPerDeploymentBecauseAzureThrottlesPerDeployment() throws Exception {
        Balancer balancer = Balancer.create(endpoints("""
                - name: Plain
                  url: https://plain.example.com
                  key: k1
                """), clock, random);
        Target chat = balancer.plan("gpt-4o", true).get(0);

        balancer.block(chat, "gpt-4o", 429, header -> null);

        assertTrue(balancer.isBlocked(chat, "gpt-4o"));
        assertFalse(balancer.isBlocked(balancer.plan("embeddings", false).get(0), "embeddings"));
    }

    @Test
    void anUnreachableEndpointBlocksAllItsTargets() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);
        List<Target> plan = balancer.plan("gpt-4o", true);

        balancer.blockUnreachable(plan.get(0).endpoint(), "refused");

        assertTrue(balancer.isBlocked(plan.get(0), "gpt-4o"));
        assertTrue(balancer.isBlocked(plan.get(1), "gpt-4o"), "the other stand-in at the same endpoint too");
        assertFalse(balancer.isBlocked(plan.get(2), "gpt-4o"));
    }

    @Test
    void whenEverythingIsBlockedTheAnswerIs429UntilTheEarliestUnblock() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);
        List<Target> plan = balancer.plan("gpt-4o", true);
        balancer.block(plan.get(0), "gpt-4o", 429, header -> header.equals("retry-after-ms") ? "7000" : null);
        balancer.block(plan.get(1), "gpt-4o", 429, header -> header.equals("retry-after-ms") ? "3000" : null);
        balancer.block(plan.get(2), "gpt-4o", 503, header -> header.equals("retry-after") ? "5" : null);
        clock.advance(Duration.ofMillis(500));

        ProxyException answer = balancer.noTargetLeft("gpt-4o", plan);

        assertEquals(429, answer.status());
        assertEquals("2500", answer.headers().get("retry-after-ms"));
        assertEquals("3", answer.headers().get("retry-after"));
        assertTrue(answer.getMessage().contains("'gpt-4o'"));
    }

    @Test
    void requestsNamingNoDeploymentGoToWholeEndpointsInPriorityOrderAndSkipNothing() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS
                .replace("key: k1", "key: k1\n  non_streaming_fraction: 0.0001")
                .replace("key: k2", "key: k2\n  priority: -1")), clock, random);

        for (int i = 0; i < 20; i++) {
            List<Target> plan = balancer.plan(null, false);
            assertEquals(List.of("EastUS", "Sweden"), names(plan));
            assertEquals(null, plan.get(0).deploymentFor(null));
        }
    }

    @Test
    void anUnknownDeploymentIs404WhenEveryEndpointHasVirtualDeployments() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS), clock, random);

        ProxyException notFound = assertThrows(ProxyException.class, () -> balancer.plan("gpt-5", false));

        assertEquals(404, notFound.status());
        assertTrue(notFound.getMessage().contains("gpt-4o"));
    }

    @Test
    void endpointsWithoutVirtualDeploymentsServeNamesNobodyDefines() throws Exception {
        Balancer balancer = Balancer.create(endpoints(TWO_REGIONS + """
                - name: Plain
                  url: https://plain.example.com
                  key: k3
                """), clock, random);

        assertEquals(List.of("Plain"), names(balancer.plan("dall-e-3", false)));
        assertEquals(List.of("Sweden/gpt-4o-ptu", "Sweden/gpt-4o-paygo", "EastUS/gpt-4o-paygo", "Plain"),
                names(balancer.plan("gpt-4o", false)));
    }

    @Test
    void permitsBoundRequestsInFlightPerEndpoint() throws Exception {
        Balancer balancer = Balancer.create(endpoints("""
                - name: Tiny
                  url: https://tiny.example.com
                  key: k1
                  connections:
                    limits:
                      max_connections: 2
                    timeouts:
                      pool: 0.05
                """), clock, random);
        Endpoint tiny = balancer.endpoints().get(0);

        var first = balancer.acquire(tiny);
        var second = balancer.acquire(tiny);
        var third = balancer.acquire(tiny);

        assertTrue(first.isPresent());
        assertTrue(second.isPresent());
        assertTrue(third.isEmpty(), "the third waits the pool timeout and gives up");
        first.get().close();
        first.get().close();
        assertTrue(balancer.acquire(tiny).isPresent(), "a closed permit is free again, once");
        assertTrue(balancer.acquire(tiny).isEmpty());
    }

    @Test
    void deploymentNamesAskedOfAWholeEndpointLeaveNoStateUnlessTheyWereBlocked() throws Exception {
        Balancer balancer = Balancer.create(endpoints("""
                - name: Sweden
                  url: https://sweden.example.com
                  key: k1
                """), clock, random);
        Endpoint sweden = balancer.endpoints().get(0);

        for (int i = 0; i < 10_000; i++) {
            String name = "made-up-" + i;
            assertFalse(balancer.isBlocked(balancer.plan(name, false).get(0), name));
        }
        assertEquals(0, sweden.blockedDeploymentNames());

        for (int i = 0; i < 1_000; i++) {
            String name = "throttled-" + i;
            balancer.block(balancer.plan(name, false).get(0), name, 429, header -> "retry-after-ms".equals(header) ? "100" : null);
            clock.advance(Duration.ofMillis(1));
        }
        assertTrue(sweden.blockedDeploymentNames() <= 256 + 100, "only names still blocked are kept, and a few more: "
                + sweden.blockedDeploymentNames());
        assertTrue(balancer.isBlocked(balancer.plan("throttled-999", false).get(0), "throttled-999"));
    }

    @Test
    void aNonStreamingRequestThatEveryTargetSkipsByItsFractionTriesThemAllRatherThanBeingRefused() throws Exception {
        // The last endpoint takes every non-streaming request, but it does not serve gpt-4o.
        Balancer balancer = Balancer.create(endpoints("""
                - name: Sweden
                  url: https://sweden.example.com
                  key: k1
                  non_streaming_fraction: 0
                  virtual_deployments:
                    - name: gpt-4o
                      standins:
                        - name: gpt-4o-ptu
                - name: EastUS
                  url: https://eastus.example.com
                  key: k2
                  virtual_deployments:
                    - name: gpt-4o-mini
                      standins:
                        - name: gpt-4o-mini
                """), clock, random);

        for (int i = 0; i < 20; i++) {
            assertEquals(List.of("Sweden/gpt-4o-ptu"), names(balancer.plan("gpt-4o", false)));
        }
    }

    @Test
    void aHostThatCannotBeConnectedToIsBlockedForEveryEndpointEntryThatNamesIt() throws Exception {
        Balancer balancer = Balancer.create(endpoints("""
                - name: sweden-ptu
                  url: https://contoso-sweden.openai.azure.com/
                  key: k1
                - name: sweden-paygo
                  url: https://CONTOSO-sweden.openai.azure.com
                  key: k1
                - name: eastus
                  url: https://contoso-eastus.openai.azure.com/
                  key: k2
                """), clock, random);
        List<Target> plan = balancer.plan("gpt-4o", true);

        balancer.blockUnreachable(plan.get(0).endpoint(), "could not be connected to");

        assertTrue(balancer.isBlocked(plan.get(0), "gpt-4o"));
        assertTrue(balancer.isBlocked(plan.get(1), "gpt-4o"), "the same host under another entry");
        assertFalse(balancer.isBlocked(plan.get(2), "gpt-4o"));
        clock.advance(Duration.ofSeconds(10).plusMillis(1));
        assertFalse(balancer.isBlocked(plan.get(1), "gpt-4o"));
    }
}
