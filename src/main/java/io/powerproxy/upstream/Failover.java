package io.powerproxy.upstream;

import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.ProxyException;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tries a request's targets in the {@link Balancer}'s order until one answers: a target that is blocked or has no
 * free connection is skipped, and one that cannot be reached, times out, or answers 408, 429 or 5xx is blocked and
 * the next one is tried (README "3. Which deployment, which target"). A request that failed after it was sent is not
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

    /**
     * Sends the request to its targets in turn until one answers with a status that does not fail over.
     *
     * @param deployment the deployment asked for, or null when the request names none
     * @param requestId the proxy's id of the request, for the log
     * @throws ProxyException 429 when no target is left, 502 when the request failed after it was sent, 404 when no
     *     target serves the deployment
     */
    public UpstreamAnswer call(String deployment, boolean streaming, String requestId, Attempts attempts)
            throws IOException, InterruptedException {
        List<Target> plan = balancer.plan(deployment, streaming);
        for (Target target : plan) {
            if (balancer.isBlocked(target, deployment)) {
                continue;
            }
            Optional<Balancer.Permit> permit = balancer.acquire(target.endpoint());
            if (permit.isEmpty()) {
                metrics.failedOver(target.describe(), "busy", false);
                continue;
            }
            if (balancer.isBlocked(target, deployment)) {
                // It was blocked while this request waited for a free connection to it.
                permit.get().close();
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
                    metrics.failedOver(target.describe(), Integer.toString(response.statusCode()),
                            !wasBlocked && balancer.isBlocked(target, deployment));
                    discard(response);
                    continue;
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
        throw balancer.noTargetLeft(deployment, plan);
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
