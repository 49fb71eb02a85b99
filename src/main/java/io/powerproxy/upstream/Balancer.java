package io.powerproxy.upstream;

import io.powerproxy.config.EndpointConfig;
import io.powerproxy.config.HeadroomConfig;
import io.powerproxy.config.StandinConfig;
import io.powerproxy.config.VirtualDeploymentConfig;
import io.powerproxy.logging.Printable;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.TokenDemand;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the order in which a request tries its targets, and remembers which targets are blocked (README "3. Which deployment, which target").
 *
 * <p>Order: endpoints by {@code priority} (default: config order), then within each endpoint its stand-ins by
 * their {@code priority} (default: config order), so that a config without priorities is tried exactly as the
 * Python original tries it. Where priorities tie, the order is drawn by {@code weight} on every request. A
 * non-streaming request skips an endpoint, and a stand-in, with probability {@code 1 - non_streaming_fraction};
 * if that leaves it no target at all, it tries them all as a streaming request would.
 *
 * <p>Requests that name no deployment (files, batches, listing assistants...) go to whole endpoints in priority order, ties in
 * config order, and skip nothing: objects such as files live on one endpoint, so these requests should keep
 * finding the same one.
 *
 * <p>Blocks: an answer of 408, 429 or 5xx blocks its target for as long as its headers say. A network fault blocks
 * in proportion to how often it repeats: the first connect failure or timeout for {@link FaultBlock#FIRST_FAULT},
 * each one in a row after it twice as long, up to {@link RetryAfter#DEFAULT}, and an answer starts the count again.
 * A burst of requests that all fail at once is one fault: those that end while the block runs do not lengthen it.
 *
 * <p>Headroom ({@code aoai.headroom}): the rate limit each target said it has left, less what was sent to it since,
 * decides whether a request goes there or, when that is too little for it, to the next target first (see
 * {@link Headroom}); blocks and low counts are told to other replicas through a {@link Bulletin}, and theirs are heard.
 *
 * <p>State is lock-free: each target's block is a {@link FaultBlock} (one record swapped with compare-and-set),
 * each endpoint's requests in flight a {@link java.util.concurrent.Semaphore}, each deployment's headroom a
 * {@link Headroom}. Times come from an injected millisecond clock.
 */
public final class Balancer {

    private static final Logger LOG = LoggerFactory.getLogger(Balancer.class);
    private static final Duration LONG_BLOCK = Duration.ofHours(1);
    private static final Duration RETRY_WHEN_NOTHING_IS_BLOCKED = Duration.ofSeconds(1);
    /** A target's low counts are told to other replicas at most this often (its blocks every time). */
    static final long LOW_NOTICE_GAP_MILLIS = 100;

    /** Items of equal priority, with their weights, to be drawn in weighted random order. */
    private record Tier<T>(List<T> items, double[] weights) {
    }

    /** An endpoint's part in serving one deployment: its targets for it, tier by tier. */
    private record Slot(Endpoint endpoint, List<Tier<Target>> targets) {
    }

    private final List<Endpoint> endpoints;
    private final Map<String, List<Tier<Slot>>> byDeployment;
    private final List<Tier<Slot>> forAnyName;
    private final List<Target> deploymentIndependent;
    private final LongSupplier clock;
    private final RandomGenerator random;
    private final HeadroomConfig headroom;
    private final Bulletin bulletin;
    private final Map<String, Endpoint> endpointsByName;
    /** How many different Azure resources the endpoints talk to. */
    private final int resources;

    private Balancer(List<Endpoint> endpoints, Map<String, List<Tier<Slot>>> byDeployment, List<Tier<Slot>> forAnyName,
            List<Target> deploymentIndependent, LongSupplier clock, RandomGenerator random, HeadroomConfig headroom,
            Bulletin bulletin) {
        this.headroom = headroom;
        this.bulletin = bulletin;
        Map<String, Endpoint> byName = new HashMap<>();
        endpoints.forEach(endpoint -> byName.put(endpoint.name(), endpoint));
        this.endpointsByName = Map.copyOf(byName);
        this.endpoints = endpoints;
        this.resources = (int) endpoints.stream().map(Endpoint::resource).distinct().count();
        this.byDeployment = byDeployment;
        this.forAnyName = forAnyName;
        this.deploymentIndependent = deploymentIndependent;
        this.clock = clock;
        this.random = random;
    }

    /** A balancer over the configured endpoints with the monotonic system clock and a per-thread random source. */
    public static Balancer create(List<EndpointConfig> configs) {
        return create(configs, () -> System.nanoTime() / 1_000_000, null);
    }

    /**
     * A balancer with an injected clock (ms, monotonic) and random source (null: {@code ThreadLocalRandom}),
     * for tests.
     */
    public static Balancer create(List<EndpointConfig> configs, LongSupplier clockMillis, RandomGenerator random) {
        return create(configs, clockMillis, random, HeadroomConfig.DEFAULTS, Bulletin.NONE, null);
    }

    /**
     * A balancer that routes by headroom as {@code headroom} says, and tells other replicas through {@code bulletin}
     * (and hears them) what it learns about targets; for a reloaded config, each endpoint that
     * {@link Endpoint#keepsStateOf} its namesake in {@code running} (may be null) takes over its requests in flight,
     * blocks and headroom, and new endpoints on the same host share that host's "unreachable" block. The new balancer
     * replaces the running one as the bulletin's listener.
     */
    public static Balancer create(List<EndpointConfig> configs, LongSupplier clockMillis, RandomGenerator random,
            HeadroomConfig headroom, Bulletin bulletin, Balancer running) {
        Map<String, Endpoint> runningByName = new HashMap<>();
        if (running != null) {
            running.endpoints.forEach(endpoint -> runningByName.put(endpoint.name(), endpoint));
        }
        Map<String, FaultBlock> unreachableByOrigin = new HashMap<>();
        for (EndpointConfig config : configs) {
            Endpoint kept = runningByName.get(config.name());
            if (kept != null && Endpoint.keepsStateOf(kept.config(), config)) {
                unreachableByOrigin.putIfAbsent(Endpoint.origin(config).toLowerCase(java.util.Locale.ROOT),
                        kept.unreachable());
            }
        }
        List<Endpoint> endpoints = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        for (EndpointConfig config : configs) {
            endpoints.add(Endpoint.of(config, unreachableByOrigin, runningByName.get(config.name())));
            config.virtualDeployments().forEach(vd -> names.add(vd.name()));
        }
        Map<String, List<Tier<Slot>>> byDeployment = new LinkedHashMap<>();
        for (String name : names) {
            List<Slot> slots = new ArrayList<>();
            for (Endpoint endpoint : endpoints) {
                Slot slot = slotFor(endpoint, name);
                if (slot != null) {
                    slots.add(slot);
                }
            }
            byDeployment.put(name, tiers(slots, s -> s.endpoint().config().priority(), s -> s.endpoint().config().weight()));
        }
        List<Slot> wholeEndpoints = new ArrayList<>();
        for (Endpoint endpoint : endpoints) {
            if (endpoint.config().virtualDeployments().isEmpty()) {
                wholeEndpoints.add(new Slot(endpoint, List.of(single(new Target.WholeEndpoint(endpoint)))));
            }
        }
        List<Target> independent = endpoints.stream()
                .sorted(Comparator.comparingInt(e -> e.config().priority()))
                .<Target>map(Target.WholeEndpoint::new)
                .toList();
        Balancer balancer = new Balancer(List.copyOf(endpoints), byDeployment,
                tiers(wholeEndpoints, s -> s.endpoint().config().priority(), s -> s.endpoint().config().weight()),
                independent, clockMillis, random, headroom, bulletin);
        bulletin.listen(balancer::heard);
        return balancer;
    }

    private static Slot slotFor(Endpoint endpoint, String deployment) {
        List<VirtualDeploymentConfig> vds = endpoint.config().virtualDeployments();
        if (vds.isEmpty()) {
            return new Slot(endpoint, List.of(single(new Target.WholeEndpoint(endpoint))));
        }
        for (VirtualDeploymentConfig vd : vds) {
            if (vd.name().equals(deployment)) {
                List<Target> standins = new ArrayList<>();
                for (StandinConfig standin : vd.standins()) {
                    standins.add(new Target.Standin(endpoint, vd.name(), standin));
                }
                return new Slot(endpoint, tiers(standins, t -> ((Target.Standin) t).standin().priority(),
                        t -> ((Target.Standin) t).standin().weight()));
            }
        }
        return null;
    }

    private static <T> Tier<T> single(T item) {
        return new Tier<>(List.of(item), new double[] {1});
    }

    private static <T> List<Tier<T>> tiers(List<T> items, java.util.function.ToIntFunction<T> priority,
            java.util.function.ToDoubleFunction<T> weight) {
        Map<Integer, List<T>> byPriority = new java.util.TreeMap<>();
        for (T item : items) {
            byPriority.computeIfAbsent(priority.applyAsInt(item), k -> new ArrayList<>()).add(item);
        }
        List<Tier<T>> tiers = new ArrayList<>();
        for (List<T> group : byPriority.values()) {
            double[] weights = group.stream().mapToDouble(weight).toArray();
            tiers.add(new Tier<>(List.copyOf(group), weights));
        }
        return List.copyOf(tiers);
    }

    List<Endpoint> endpoints() {
        return endpoints;
    }

    /**
     * The targets a request tries, in order; blocked ones are still listed (they are skipped when tried, so a
     * block that ends meanwhile counts).
     *
     * @param deployment the deployment asked for, or null when the request names none
     * @param streaming whether the request streams; non-streaming ones skip targets by their non-streaming fraction
     * @throws ProxyException 404 {@code DeploymentNotFound} when nothing serves that deployment
     */
    List<Target> plan(String deployment, boolean streaming) {
        if (deployment == null) {
            return deploymentIndependent;
        }
        List<Tier<Slot>> tiers = byDeployment.get(deployment);
        if (tiers == null) {
            if (forAnyName.isEmpty()) {
                throw ProxyException.of(404, "DeploymentNotFound", "The deployment '" + deployment
                        + "' is not configured at this proxy. Configured deployments: "
                        + String.join(", ", byDeployment.keySet()) + ".");
            }
            tiers = forAnyName;
        }
        RandomGenerator rng = random != null ? random : java.util.concurrent.ThreadLocalRandom.current();
        List<Target> plan = new ArrayList<>(8);
        for (Tier<Slot> tier : tiers) {
            for (Slot slot : drawOrder(tier, rng)) {
                if (!streaming && skips(slot.endpoint().config().nonStreamingFraction(), rng)) {
                    continue;
                }
                for (Tier<Target> targets : slot.targets()) {
                    for (Target target : drawOrder(targets, rng)) {
                        if (!streaming && skips(target.nonStreamingFraction(), rng)) {
                            continue;
                        }
                        plan.add(target);
                    }
                }
            }
        }
        if (plan.isEmpty() && !streaming) {
            // Every target skipped this request by its non-streaming fraction (priorities can put a target with a
            // fraction below 1 last): it is better served by capacity kept for streaming than refused.
            return plan(deployment, true);
        }
        return plan;
    }

    /**
     * The targets of the resource of the endpoint named {@code owner} for a request that must reach it (an object
     * lives there), in the usual order but skipping none by its non-streaming fraction; empty when that resource serves
     * no target for the deployment, null when no endpoint has that name (any more).
     */
    List<Target> planAt(String owner, String deployment) {
        Endpoint named = null;
        for (Endpoint endpoint : endpoints) {
            if (endpoint.name().equals(owner)) {
                named = endpoint;
                break;
            }
        }
        if (named == null) {
            return null;
        }
        String resource = named.resource();
        List<Target> plan = new ArrayList<>(4);
        for (Target target : plan(deployment, true)) {
            if (target.endpoint().resource().equals(resource)) {
                plan.add(target);
            }
        }
        return plan;
    }

    /** How many different Azure resources the endpoints talk to; objects need routing only between several. */
    int resources() {
        return resources;
    }

    /**
     * The answer when the endpoint that owns an object is blocked or busy: 503 with {@code retry-after-ms} and
     * {@code retry-after} set to the time until its earliest target unblocks. The call is never sent to another
     * endpoint, which cannot know the object.
     */
    ProxyException ownerUnavailable(String owner, String object, String deployment, List<Target> plan) {
        long now = clock.getAsLong();
        long earliest = Long.MAX_VALUE;
        for (Target target : plan) {
            long until = Math.max(target.blockedUntil(deployment), target.endpoint().unreachable().until());
            earliest = Math.min(earliest, Math.max(0, until - now));
        }
        long waitMs = earliest == Long.MAX_VALUE || earliest == 0 ? RETRY_WHEN_NOTHING_IS_BLOCKED.toMillis() : earliest;
        return ProxyException.of(503, "OwnerEndpointUnavailable", "Object '" + object + "' lives at endpoint '" + owner
                        + "', which is throttled, failing or busy right now; the call is not sent to another endpoint,"
                        + " which cannot know the object. Retry after " + waitMs + " ms.")
                .withHeader("retry-after-ms", Long.toString(waitMs))
                .withHeader("retry-after", Long.toString((waitMs + 999) / 1000));
    }

    private static boolean skips(double nonStreamingFraction, RandomGenerator rng) {
        return nonStreamingFraction < 1 && rng.nextDouble() >= nonStreamingFraction;
    }

    /** Weighted random order without replacement (Efraimidis–Spirakis: smallest {@code -ln(u)/w} first). */
    private static <T> List<T> drawOrder(Tier<T> tier, RandomGenerator rng) {
        List<T> items = tier.items();
        if (items.size() == 1) {
            return items;
        }
        double[] keys = new double[items.size()];
        Integer[] order = new Integer[items.size()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = -Math.log(1 - rng.nextDouble()) / tier.weights()[i];
            order[i] = i;
        }
        java.util.Arrays.sort(order, Comparator.comparingDouble(i -> keys[i]));
        List<T> drawn = new ArrayList<>(items.size());
        for (Integer i : order) {
            drawn.add(items.get(i));
        }
        return drawn;
    }

    /**
     * How long each target stays blocked from now on (ms, 0 when it is not), by {@link Target#describe()}, in config
     * order; a whole endpoint counts its longest block of any deployment name. Made at each metrics scrape.
     */
    public Map<String, Long> remainingBlocks() {
        long now = clock.getAsLong();
        Map<String, Long> remaining = new LinkedHashMap<>();
        for (Endpoint endpoint : endpoints) {
            long until = Math.max(endpoint.unreachable().until(), endpoint.latestDeploymentBlock());
            remaining.put(endpoint.name(), until > now ? until - now : 0);
        }
        for (List<Tier<Slot>> tiers : byDeployment.values()) {
            for (Tier<Slot> tier : tiers) {
                for (Slot slot : tier.items()) {
                    for (Tier<Target> targets : slot.targets()) {
                        for (Target target : targets.items()) {
                            if (target instanceof Target.Standin standin) {
                                long until = Math.max(standin.blockedUntil(null), standin.endpoint().unreachable().until());
                                remaining.put(standin.describe(), until > now ? until - now : 0);
                            }
                        }
                    }
                }
            }
        }
        return remaining;
    }

    /** Whether the target may not be tried now for that deployment. */
    boolean isBlocked(Target target, String deployment) {
        return blockedUntil(target, deployment) > clock.getAsLong();
    }

    /** Until when the target is blocked: by its own answers, its host's faults, or what another replica told. */
    private long blockedUntil(Target target, String deployment) {
        long until = Math.max(target.blockedUntil(deployment), target.endpoint().unreachable().until());
        if (deployment != null) {
            Headroom shared = target.endpoint().existingHeadroom(target.deploymentFor(deployment));
            if (shared != null) {
                until = Math.max(until, shared.sharedBlockUntil());
            }
        }
        return until;
    }

    /**
     * Takes a ticket for a request to the target, unless headroom routing is on and the target said it has too little
     * left for it.
     *
     * @param demand the request's token demand; asked for only when the target's count is in force
     * @param force take it even when too little is left (the target is the best of those short)
     * @return the ticket to hand to {@link #observe} with the answer; null when the target is short
     */
    Headroom.Ticket reserve(Target target, String deployment, Supplier<TokenDemand> demand, boolean force) {
        if (!headroom.enabled() || deployment == null) {
            return Headroom.Ticket.NONE;
        }
        long now = clock.getAsLong();
        return target.endpoint().headroom(target.deploymentFor(deployment), now).take(now,
                () -> demand.get().total(headroom.defaultCompletionTokens()), headroom.minRemainingTokens(),
                headroom.minRemainingRequests(), force);
    }

    /** The tokens the target has left for that deployment by its last count, or {@link Headroom#UNKNOWN}. */
    long spareTokens(Target target, String deployment) {
        Headroom known = deployment == null ? null : target.endpoint().existingHeadroom(target.deploymentFor(deployment));
        return known == null ? Headroom.UNKNOWN : known.spareTokens(clock.getAsLong());
    }

    /**
     * Reads the rate limit an answer says its target has left ({@code x-ratelimit-remaining-tokens} and
     * {@code -requests}); the count holds until the reset the answer names ({@code x-ratelimit-reset-tokens} or
     * {@code -requests}, the later one), else for {@code window_seconds}. A low count is told to other replicas.
     */
    void observe(Target target, String deployment, Headroom.Ticket ticket, Function<String, String> header) {
        if (ticket.headroom() == null) {
            return;
        }
        long tokens = count(header.apply("x-ratelimit-remaining-tokens"));
        long requests = count(header.apply("x-ratelimit-remaining-requests"));
        if (tokens < 0 && requests < 0) {
            return;
        }
        Duration tokensReset = RetryAfter.seconds(header.apply("x-ratelimit-reset-tokens"));
        Duration requestsReset = RetryAfter.seconds(header.apply("x-ratelimit-reset-requests"));
        Duration reset = tokensReset == null ? requestsReset
                : requestsReset == null || tokensReset.compareTo(requestsReset) > 0 ? tokensReset : requestsReset;
        long validFor = Math.max(1, (reset == null ? headroom.window() : reset).toMillis());
        long now = clock.getAsLong();
        boolean low = tokens >= 0 && tokens < Math.max(headroom.defaultCompletionTokens(), headroom.minRemainingTokens())
                || requests >= 0 && requests < headroom.minRemainingRequests();
        if (ticket.headroom().observe(now, ticket, tokens, requests, now + validFor) && low && bulletin != Bulletin.NONE
                && ticket.headroom().mayPost(now, LOW_NOTICE_GAP_MILLIS)) {
            bulletin.post(new Bulletin.Notice(Bulletin.Kind.LOW, target.endpoint().name(),
                    target.deploymentFor(deployment), validFor, tokens, requests));
        }
    }

    /** A count from a header: a whole number of at least 0, or -1. */
    private static long count(String value) {
        if (value == null || value.isEmpty() || value.length() > 18) {
            return -1;
        }
        long n = 0;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /** What another replica told: a block, or a low count, of a target this balancer has. */
    private void heard(Bulletin.Notice notice) {
        Endpoint endpoint = endpointsByName.get(notice.endpoint());
        if (endpoint == null || notice.deployment() == null || notice.forMillis() <= 0) {
            return;
        }
        long now = clock.getAsLong();
        Headroom known = endpoint.headroom(notice.deployment(), now);
        if (notice.kind() == Bulletin.Kind.BLOCKED) {
            known.blockShared(now + notice.forMillis());
            LOG.info("{}/{}: blocked for {} ms, as another replica was told by its answer; trying the next target",
                    endpoint.name(), Printable.of(notice.deployment()), notice.forMillis());
        } else if (headroom.enabled()) {
            known.observeShared(now, notice.remainingTokens(), notice.remainingRequests(), now + notice.forMillis());
        }
    }

    /** Blocks a target that answered 429, 408 or 5xx, for as long as the answer's headers say. */
    Duration block(Target target, String deployment, int status, java.util.function.Function<String, String> header) {
        Duration duration = RetryAfter.from(header, java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC));
        long now = clock.getAsLong();
        target.blockUntil(deployment, now + Math.max(0, duration.toMillis()), now);
        log(target.describe(), "answered " + status, duration);
        if (deployment != null && duration.toMillis() > 0 && bulletin != Bulletin.NONE) {
            bulletin.post(new Bulletin.Notice(Bulletin.Kind.BLOCKED, target.endpoint().name(),
                    target.deploymentFor(deployment), duration.toMillis(), -1, -1));
        }
        return duration;
    }

    /**
     * Blocks a target whose answer did not arrive in time: for a second the first time, twice as long for each
     * timeout in a row, at most {@link RetryAfter#DEFAULT}; one that ends while the target is blocked adds nothing.
     *
     * @return how long the target stays blocked from now on
     */
    Duration blockTimedOut(Target target, String deployment, String what) {
        long now = clock.getAsLong();
        FaultBlock.Fault fault = target.faults(deployment, now).fault(now, RetryAfter.DEFAULT);
        log(target.describe(), what, fault);
        return fault.blockedFor();
    }

    /**
     * Blocks a whole endpoint that could not be connected to (connection refused, DNS, TLS, connect timeout), and with
     * it every endpoint on the same host: as {@link #blockTimedOut}, a second the first time, doubling for each
     * failure in a row, at most {@link RetryAfter#DEFAULT}.
     *
     * @return how long the endpoint stays blocked from now on
     */
    Duration blockUnreachable(Endpoint endpoint, String what) {
        FaultBlock.Fault fault = endpoint.unreachable().fault(clock.getAsLong(), RetryAfter.DEFAULT);
        log(endpoint.name(), what, fault);
        return fault.blockedFor();
    }

    /**
     * The target answered (whatever the status): its host is reachable and it answers in time, so the next network
     * fault of either counts as the first again. Blocks already running stay.
     */
    void answered(Target target, String deployment) {
        target.endpoint().unreachable().answered();
        target.answered(deployment);
    }

    private static void log(String target, String what, FaultBlock.Fault fault) {
        if (fault.counted()) {
            LOG.info("{} {}: blocked for {} ms (network fault {} in a row); trying the next target", target, what,
                    fault.blockedFor().toMillis(), fault.faultsInARow());
        } else {
            LOG.info("{} {}: blocked already, for another {} ms, since an earlier fault; trying the next target", target,
                    what, fault.blockedFor().toMillis());
        }
    }

    private static void log(String target, String what, Duration duration) {
        if (duration.compareTo(LONG_BLOCK) > 0) {
            LOG.warn("{} {}: blocked for {} s, more than an hour (a daily quota?); trying the next target", target,
                    what, duration.toSeconds());
        } else {
            LOG.info("{} {}: blocked for {} ms; trying the next target", target, what, duration.toMillis());
        }
    }

    /**
     * Takes one of the endpoint's {@code max_connections} permits, waiting at most its {@code pool} timeout.
     *
     * @return the permit, to be closed when the response has been passed on; empty when none came free in time
     */
    Optional<Permit> acquire(Endpoint endpoint) throws InterruptedException {
        Duration wait = endpoint.config().timeouts().pool();
        if (endpoint.permits().tryAcquire() || endpoint.permits().tryAcquire(wait.toNanos(), TimeUnit.NANOSECONDS)) {
            return Optional.of(new Permit(endpoint));
        }
        LOG.info("{}: no free connection within {} ms (max_connections {}); trying the next target", endpoint.name(),
                wait.toMillis(), endpoint.config().limits().maxConnections());
        return Optional.empty();
    }

    /**
     * The answer when no target could serve the request: 429 with {@code retry-after-ms} and {@code retry-after}
     * set to the time until the earliest of its targets unblocks.
     */
    ProxyException noTargetLeft(String deployment, List<Target> tried) {
        long now = clock.getAsLong();
        long earliest = Long.MAX_VALUE;
        for (Target target : allTargets(deployment, tried)) {
            long until = blockedUntil(target, deployment);
            if (until > now) {
                earliest = Math.min(earliest, until - now);
            }
        }
        long waitMs = earliest == Long.MAX_VALUE ? RETRY_WHEN_NOTHING_IS_BLOCKED.toMillis() : earliest;
        String what = deployment == null ? "this request" : "deployment '" + deployment + "'";
        return ProxyException.of(429, "TooManyRequests", "Every Azure OpenAI target for " + what
                        + " is throttled, failing or busy right now. Retry after " + waitMs + " ms.")
                .withHeader("retry-after-ms", Long.toString(waitMs))
                .withHeader("retry-after", Long.toString((waitMs + 999) / 1000));
    }

    private List<Target> allTargets(String deployment, List<Target> tried) {
        List<Tier<Slot>> tiers = deployment == null ? null : byDeployment.getOrDefault(deployment, forAnyName);
        if (tiers == null) {
            return tried;
        }
        List<Target> all = new ArrayList<>();
        for (Tier<Slot> tier : tiers) {
            for (Slot slot : tier.items()) {
                slot.targets().forEach(t -> all.addAll(t.items()));
            }
        }
        return all;
    }

    /** One request in flight to an endpoint; closing it frees the slot. */
    public static final class Permit implements AutoCloseable {
        private final Endpoint endpoint;
        private boolean closed;

        private Permit(Endpoint endpoint) {
            this.endpoint = endpoint;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                endpoint.permits().release();
            }
        }
    }
}
