package io.powerproxy.pipeline;

import io.powerproxy.streaming.SseEvent;
import io.powerproxy.usage.UsageRecord;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Calls the configured plugins' hooks in config order, each with the request's read-only {@link Exchange}, and
 * enforces their contract: the request hooks may change the request (applied once, after the last of them) or
 * reject it with {@link ProxyException}; a plugin that throws anything else is logged with its name
 * ({@code plugin X failed in onClientIdentified}). In a request hook that gives the client 500; in a later hook the
 * request goes on. {@link LinkageError}s count as such failures too: a third-party jar built against another
 * version of the API must not break requests.
 */
public final class Pipeline implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Pipeline.class);
    /** How many events of this stream each failing plugin failed on. */
    private static final Exchange.Key<Map<Step, Integer>> STREAM_EVENT_FAILURES =
            Exchange.Key.of("pipeline.streamEventFailures");

    /** A plugin and the name it has in the logs: its {@code plugins[].name}. */
    private record Step(String name, Plugin plugin) {
    }

    private final List<Step> steps;

    private Pipeline(List<Step> steps) {
        this.steps = steps;
    }

    /** The plugins in this order, each named in logs by its class's simple name. */
    public static Pipeline of(List<Plugin> plugins) {
        return new Pipeline(plugins.stream().map(plugin -> new Step(plugin.getClass().getSimpleName(), plugin)).toList());
    }

    /** The plugins in this order, each named in logs by the name at the same index. */
    static Pipeline named(List<String> names, List<Plugin> plugins) {
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < plugins.size(); i++) {
            steps.add(new Step(names.get(i), plugins.get(i)));
        }
        return new Pipeline(List.copyOf(steps));
    }

    public List<Plugin> plugins() {
        return steps.stream().map(Step::plugin).toList();
    }

    /** Runs {@link Plugin#onRequestReceived}; a plugin may change the request or reject it. */
    public void requestReceived(ExchangeState exchange) {
        exchange.openForChanges();
        for (Step step : steps) {
            try {
                step.plugin().onRequestReceived(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                throw requestHookFailed(step, "onRequestReceived", exchange, e);
            }
        }
    }

    /**
     * Runs {@link Plugin#onClientIdentified}; a plugin may change the request or reject it. Then applies the changes
     * of both request hooks, once: what the request is when this returns is what goes upstream. Then runs
     * {@link Plugin#onRequestReady}, where a plugin may still reject it.
     */
    public void clientIdentified(ExchangeState exchange) {
        exchange.openForChanges();
        for (Step step : steps) {
            try {
                step.plugin().onClientIdentified(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                throw requestHookFailed(step, "onClientIdentified", exchange, e);
            }
        }
        exchange.applyChanges();
        for (Step step : steps) {
            try {
                step.plugin().onRequestReady(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                throw requestHookFailed(step, "onRequestReady", exchange, e);
            }
        }
    }

    public void responseHeaders(ExchangeState exchange) {
        for (Step step : steps) {
            try {
                step.plugin().onResponseHeaders(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                logFailure(step, "onResponseHeaders", exchange, e);
            }
        }
    }

    /** Runs {@link Plugin#onResponseBody} with a read-only view of the body, so that no plugin changes what is sent. */
    public void responseBody(ExchangeState exchange, byte[] body) {
        for (Step step : steps) {
            try {
                step.plugin().onResponseBody(exchange.view(), ByteBuffer.wrap(body).asReadOnlyBuffer());
            } catch (RuntimeException | LinkageError e) {
                logFailure(step, "onResponseBody", exchange, e);
            }
        }
    }

    /**
     * Runs {@link Plugin#onStreamEvent}. A plugin that fails on an event is logged once per stream, with the
     * exception; how many events it failed on in all is logged when the stream ends. A broken plugin thus costs one
     * line per stream, not one stack trace per event.
     */
    public void streamEvent(ExchangeState exchange, SseEvent event) {
        for (Step step : steps) {
            try {
                step.plugin().onStreamEvent(exchange.view(), event);
            } catch (RuntimeException | LinkageError e) {
                Map<Step, Integer> failures = exchange.get(STREAM_EVENT_FAILURES);
                if (failures == null) {
                    failures = new IdentityHashMap<>();
                    exchange.put(STREAM_EVENT_FAILURES, failures);
                }
                if (failures.merge(step, 1, Integer::sum) == 1) {
                    logFailure(step, "onStreamEvent", exchange, e);
                }
            }
        }
    }

    public void streamEnded(ExchangeState exchange) {
        Map<Step, Integer> failures = exchange.get(STREAM_EVENT_FAILURES);
        if (failures != null) {
            failures.forEach((step, count) -> {
                if (count > 1) {
                    LOG.error("plugin {} failed in onStreamEvent on {} events of request {} (the first is logged above)",
                            step.name(), count, exchange.requestId());
                }
            });
        }
        for (Step step : steps) {
            try {
                step.plugin().onStreamEnded(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                logFailure(step, "onStreamEnded", exchange, e);
            }
        }
    }

    public void usage(ExchangeState exchange, UsageRecord usage) {
        for (Step step : steps) {
            try {
                step.plugin().onUsage(exchange.view(), usage);
            } catch (RuntimeException | LinkageError e) {
                logFailure(step, "onUsage", exchange, e);
            }
        }
    }

    /** Runs {@link Plugin#onRequestEnded}; a plugin that throws is logged and the others still run. */
    public void requestEnded(ExchangeState exchange) {
        for (Step step : steps) {
            try {
                step.plugin().onRequestEnded(exchange.view());
            } catch (RuntimeException | LinkageError e) {
                logFailure(step, "onRequestEnded", exchange, e);
            }
        }
    }

    /** Every plugin's current readiness problem, prefixed with its name; empty when all are ready. */
    public List<String> readinessProblems() {
        List<String> problems = new ArrayList<>();
        for (Step step : steps) {
            String problem = step.plugin().readinessProblem();
            if (problem != null) {
                problems.add(step.name() + ": " + problem);
            }
        }
        return problems;
    }

    /** Closes every plugin in reverse order, so sinks flush after the plugins that feed them. */
    @Override
    public void close() {
        closeAllBut(Set.of());
    }

    /**
     * Closes, in reverse order, every plugin of this pipeline that is not one of {@code kept} (compared by
     * identity): those a reloaded config's pipeline took over stay open.
     */
    public void closeAllBut(Set<Plugin> kept) {
        Set<Plugin> keep = Collections.newSetFromMap(new IdentityHashMap<>());
        keep.addAll(kept);
        for (int i = steps.size() - 1; i >= 0; i--) {
            Step step = steps.get(i);
            if (keep.contains(step.plugin())) {
                continue;
            }
            try {
                step.plugin().close();
            } catch (RuntimeException e) {
                LOG.error("plugin {} failed to close ({})", step.name(), step.plugin().getClass().getName(), e);
            }
        }
    }

    /**
     * A rejection passes on as it is; any other failure is a bug of the plugin: logged with its name, and the client
     * gets 500 naming the request id.
     */
    private static ProxyException requestHookFailed(Step step, String hook, ExchangeState exchange, Throwable e) {
        if (e instanceof ProxyException rejection) {
            exchange.rejectedBy(step.name());
            return rejection;
        }
        logFailure(step, hook, exchange, e);
        return ProxyException.of(500, "InternalServerError", "The proxy failed to handle the request; look for"
                + " request id " + exchange.requestId() + " in its log.");
    }

    private static void logFailure(Step step, String hook, ExchangeState exchange, Throwable e) {
        LOG.error("plugin {} failed in {} for request {} ({})", step.name(), hook, exchange.requestId(),
                step.plugin().getClass().getName(), e);
    }
}
