package io.powerproxy.upstream;

import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.TokenDemand;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tries a request's targets in the {@link Balancer}'s order until one answers: a target that is blocked or has no
 * free connection is skipped, and one that cannot be reached, times out, or answers 408, 429 or 5xx is blocked and
 * the next one is tried (README "3. Which deployment, which target"); one that said it has too little rate limit left
 * for the request is tried after the others (README "Headroom: spilling over before the 429"). A request that failed after it was sent is not
 * sent again elsewhere, since it may have run.
 */
public final class Failover {

    /** Answers that make the balancer block the target and try the next one. */
    private static final Set<Integer> FAILOVER_STATUSES = Set.of(408, 429, 500, 502, 503, 504);
    /** Failed answers up to this size are read to their end, so that their connection can be reused. */
    private static final int DRAINED_ANSWER_BYTES = 64 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(Failover.class);

    /** Makes the request for each target a request tries; called once per attempt, just before it is sent. */
    @FunctionalInterface
    public interface Attempts {
        UpstreamRequest requestFor(Target target) throws IOException;
    }

    private final Balancer balancer;
    private final UpstreamClient client;
    private final ProxyMetrics metrics;

    public Failover(Balancer balancer, UpstreamClient client, ProxyMetrics metrics) {
        this.balancer = balancer;
        this.client = client;
        this.metrics = metrics;
        metrics.targetBlocks(balancer::remainingBlocks);
    }

    /** The balancer that orders and blocks this failover's targets. */
    public Balancer balancer() {
        return balancer;
    }

    /** {@link #call(String, boolean, Supplier, String, Attempts)} for a request whose token demand is not known. */
    public UpstreamAnswer call(String deployment, boolean streaming, String requestId, Attempts attempts)
            throws IOException, InterruptedException {
        return call(deployment, streaming, () -> TokenDemand.NONE, requestId, attempts);
    }

    /**
     * Sends the request to its targets in turn until one answers with a status that does not fail over. With headroom
     * routing, a target that said it has too little rate limit left for the request is passed over at first; if no
     * other target answers, those passed over are tried too, the one with the most tokens left first, so that
     * headroom alone never refuses a request.
     *
     * @param deployment the deployment asked for, or null when the request names none
     * @param demand the request's token demand, asked for only when a target's rate-limit count is known
     * @param requestId the proxy's id of the request, for the log
     * @throws ProxyException 429 when no target is left, 502 when the request failed after it was sent, 404 when no
     *     target serves the deployment
     */
    public UpstreamAnswer call(String deployment, boolean streaming, Supplier<TokenDemand> demand, String requestId,
            Attempts attempts) throws IOException, InterruptedException {
        List<Target> plan = balancer.plan(deployment, streaming);
        List<Target> passedOver = null;
        for (Target target : plan) {
            if (balancer.isBlocked(target, deployment)) {
                continue;
            }
            Headroom.Ticket ticket = balancer.reserve(target, deployment, demand, false);
            if (ticket == null) {
                if (passedOver == null) {
                    passedOver = new ArrayList<>(plan.size());
                }
                passedOver.add(target);
                continue;
            }
            UpstreamAnswer answer = tryTarget(target, deployment, ticket, requestId, attempts);
            if (answer != null) {
                return answer;
            }
        }
        if (passedOver != null) {
            passedOver.sort(Comparator.comparingLong((Target target) -> balancer.spareTokens(target, deployment)).reversed());
            for (Target target : passedOver) {
                if (balancer.isBlocked(target, deployment)) {
                    continue;
                }
                UpstreamAnswer answer = tryTarget(target, deployment, balancer.reserve(target, deployment, demand, true),
                        requestId, attempts);
                if (answer != null) {
                    return answer;
                }
            }
        }
        throw balancer.noTargetLeft(deployment, plan);
    }

    /** One target: its answer to hand over, or null when it was skipped or failed and the next one is to be tried. */
    private UpstreamAnswer tryTarget(Target target, String deployment, Headroom.Ticket ticket, String requestId,
            Attempts attempts) throws IOException, InterruptedException {
        Optional<Balancer.Permit> permit = balancer.acquire(target.endpoint());
        if (permit.isEmpty()) {
            metrics.failedOver(target.describe(), "busy", false);
            return null;
        }
        if (balancer.isBlocked(target, deployment)) {
            // It was blocked while this request waited for a free connection to it.
            permit.get().close();
            return null;
        }
        boolean handedOver = false;
        try {
            HttpResponse<InputStream> response = attempt(target, deployment, requestId, attempts);
            if (response == null) {
                return null;
            }
            Function<String, String> header = name -> response.headers().firstValue(name).orElse(null);
            balancer.observe(target, deployment, ticket, header);
            if (FAILOVER_STATUSES.contains(response.statusCode())) {
                boolean wasBlocked = balancer.isBlocked(target, deployment);
                balancer.block(target, deployment, response.statusCode(), header);
                metrics.failedOver(target.describe(), Integer.toString(response.statusCode()),
                        !wasBlocked && balancer.isBlocked(target, deployment));
                discard(response);
                return null;
            }
            handedOver = true;
            return new UpstreamAnswer(response.statusCode(), lowerCaseNames(response.headers().map()),
                    response.body(), target.endpoint().config().timeouts().read(), permit.get());
        } finally {
            if (!handedOver) {
                permit.get().close();
            }
        }
    }

    /**
     * Sends a call on an object to the resource of the endpoint that owns it, and nowhere else: another resource cannot
     * know the object. Its targets there (several stand-ins, several entries with the same URL) are tried in turn as
     * {@link #call} tries targets; when the last of them answers 408, 429 or 5xx, that answer is passed on as it is.
     *
     * @param owner the name of the endpoint that owns the object
     * @param object the object's id, for messages
     * @return the answer, or null when no endpoint has that name any more (the caller routes the call as one on an
     *     unknown object)
     * @throws ProxyException 503 {@code OwnerEndpointUnavailable} when the owner is blocked, unreachable or busy; 409
     *     when its resource serves no target for the deployment
     */
    public UpstreamAnswer callAt(String owner, String object, String deployment, String requestId, Attempts attempts)
            throws IOException, InterruptedException {
        List<Target> plan = balancer.planAt(owner, deployment);
        if (plan == null) {
            return null;
        }
        if (plan.isEmpty()) {
            throw ProxyException.of(409, "DeploymentNotAtOwnerEndpoint", "Object '" + object + "' lives at endpoint '"
                    + owner + "', which serves no deployment '" + deployment + "' at this proxy; ask for a deployment"
                    + " that endpoint serves.");
        }
        for (int i = 0; i < plan.size(); i++) {
            Target target = plan.get(i);
            if (balancer.isBlocked(target, deployment)) {
                continue;
            }
            Optional<Balancer.Permit> permit = balancer.acquire(target.endpoint());
            if (permit.isEmpty()) {
                metrics.failedOver(target.describe(), "busy", false);
                continue;
            }
            boolean handedOver = false;
            try {
                HttpResponse<InputStream> response = attempt(target, deployment, requestId, attempts);
                if (response == null) {
                    continue;
                }
                if (FAILOVER_STATUSES.contains(response.statusCode())) {
                    boolean wasBlocked = balancer.isBlocked(target, deployment);
                    balancer.block(target, deployment, response.statusCode(),
                            name -> response.headers().firstValue(name).orElse(null));
                    if (anyUnblocked(plan.subList(i + 1, plan.size()), deployment)) {
                        discard(response);
                        continue;
                    }
                }
                handedOver = true;
                return answer(target, response, permit.get());
            } finally {
                if (!handedOver) {
                    permit.get().close();
                }
            }
        }
        throw balancer.ownerUnavailable(owner, object, deployment, plan);
    }

    /**
     * Sends a call on an object the proxy does not know the owner of to each resource in turn, in {@link #call}'s
     * order, until one answers something else than 404: a 404 means the object is not there, and that nothing was
     * done there, so the next resource may be asked. The first other answer is passed on (its endpoint is the owner
     * when it is a 2xx); when every resource answered 404, the last 404 is.
     */
    public UpstreamAnswer callDiscovering(String deployment, boolean streaming, String requestId, Attempts attempts)
            throws IOException, InterruptedException {
        List<Target> plan = balancer.plan(deployment, streaming);
        Set<String> notThere = new java.util.HashSet<>();
        UpstreamAnswer notFound = null;
        try {
            for (Target target : plan) {
                if (notThere.contains(target.endpoint().resource()) || balancer.isBlocked(target, deployment)) {
                    continue;
                }
                Optional<Balancer.Permit> permit = balancer.acquire(target.endpoint());
                if (permit.isEmpty()) {
                    continue;
                }
                boolean handedOver = false;
                try {
                    HttpResponse<InputStream> response = attempt(target, deployment, requestId, attempts);
                    if (response == null) {
                        continue;
                    }
                    if (FAILOVER_STATUSES.contains(response.statusCode())) {
                        balancer.block(target, deployment, response.statusCode(),
                                name -> response.headers().firstValue(name).orElse(null));
                        discard(response);
                        continue;
                    }
                    handedOver = true;
                    UpstreamAnswer answer = answer(target, response, permit.get());
                    if (response.statusCode() != 404) {
                        return answer;
                    }
                    notThere.add(target.endpoint().resource());
                    if (notFound != null) {
                        close(notFound);
                    }
                    notFound = answer;
                } finally {
                    if (!handedOver) {
                        permit.get().close();
                    }
                }
            }
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            if (notFound != null) {
                close(notFound);
            }
            throw e;
        }
        if (notFound != null) {
            return notFound;
        }
        throw balancer.noTargetLeft(deployment, plan);
    }

    private boolean anyUnblocked(List<Target> targets, String deployment) {
        for (Target target : targets) {
            if (!balancer.isBlocked(target, deployment)) {
                return true;
            }
        }
        return false;
    }

    private static UpstreamAnswer answer(Target target, HttpResponse<InputStream> response, Balancer.Permit permit) {
        return new UpstreamAnswer(response.statusCode(), lowerCaseNames(response.headers().map()), response.body(),
                target.endpoint().config().timeouts().read(), permit);
    }

    private static void close(UpstreamAnswer answer) {
        try (InputStream body = answer.body(); Balancer.Permit permit = answer.permit()) {
            // Closing is all.
        } catch (IOException e) {
            // Its connection is dropped.
        }
    }

    /** How many different Azure resources the endpoints talk to (endpoints with the same URL are one). */
    public int resources() {
        return balancer.resources();
    }

    /** One try at one target; null when it failed before an answer and the target was blocked for it. */
    private HttpResponse<InputStream> attempt(Target target, String deployment, String requestId, Attempts attempts)
            throws IOException, InterruptedException {
        UpstreamRequest request = attempts.requestFor(target);
        try {
            HttpResponse<InputStream> response = client.send(target, request);
            balancer.answered(target, deployment);
            return response;
        } catch (HttpConnectTimeoutException e) {
            boolean wasBlocked = balancer.isBlocked(target, deployment);
            balancer.blockUnreachable(target.endpoint(), "could not be connected to within "
                    + target.endpoint().config().timeouts().connect().toMillis() + " ms");
            metrics.failedOver(target.describe(), "unreachable", !wasBlocked);
        } catch (HttpTimeoutException e) {
            boolean wasBlocked = balancer.isBlocked(target, deployment);
            balancer.blockTimedOut(target, deployment, "did not answer within "
                    + target.endpoint().config().timeouts().read().toMillis() + " ms");
            metrics.failedOver(target.describe(), "timeout", !wasBlocked);
        } catch (ConnectException | SSLException e) {
            boolean wasBlocked = balancer.isBlocked(target, deployment);
            balancer.blockUnreachable(target.endpoint(), "could not be connected to (" + e + ")");
            metrics.failedOver(target.describe(), "unreachable", !wasBlocked);
        } catch (IOException e) {
            // The request may have reached the upstream and been served: sending it elsewhere could run it twice.
            LOG.warn("request {} to {} failed after it was sent: {}", requestId, target.describe(), e.toString());
            throw ProxyException.of(502, "EndpointFailed", "The request could not be served: the connection to"
                    + " endpoint '" + target.endpoint().name() + "' failed after the request was sent; it was not"
                    + " retried elsewhere because it may have run.");
        }
        return null;
    }

    /** Reads a small failed answer to the end so that its connection can be reused; closes a large one. */
    private static void discard(HttpResponse<InputStream> response) {
        try (InputStream body = response.body()) {
            long length = response.headers().firstValueAsLong("content-length").orElse(-1);
            if (length >= 0 && length <= DRAINED_ANSWER_BYTES) {
                body.readNBytes((int) length);
            }
        } catch (IOException e) {
            // The attempt failed already; its connection is dropped.
        }
    }

    private static Map<String, List<String>> lowerCaseNames(Map<String, List<String>> headers) {
        Map<String, List<String>> lower = new LinkedHashMap<>(headers.size() * 2);
        for (Map.Entry<String, List<String>> header : headers.entrySet()) {
            lower.put(header.getKey().toLowerCase(Locale.ROOT), header.getValue());
        }
        return lower;
    }
}
