package io.powerproxy.pipeline;

import io.powerproxy.streaming.SseEvent;
import io.powerproxy.usage.UsageRecord;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Calls the configured plugins' hooks in config order and enforces their contract: hooks before the upstream
 * call may reject with {@link ProxyException}; hooks after it must not break the request, so their failures
 * are logged with the plugin's name and the request goes on. {@link LinkageError}s count as such failures too:
 * a third-party jar built against another version of the API must not break requests.
 */
public final class Pipeline implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Pipeline.class);
    /** How many events of this stream each failing plugin failed on. */
    private static final Exchange.Key<Map<Plugin, Integer>> STREAM_EVENT_FAILURES =
            Exchange.Key.of("pipeline.streamEventFailures");

    private final List<Plugin> plugins;

    private Pipeline(List<Plugin> plugins) {
        this.plugins = plugins;
    }

    public static Pipeline of(List<Plugin> plugins) {
        return new Pipeline(List.copyOf(plugins));
    }

    public List<Plugin> plugins() {
        return plugins;
    }

    /** Runs {@link Plugin#onRequestReceived}; a plugin may reject. */
    public void requestReceived(Exchange exchange) {
        for (Plugin plugin : plugins) {
            plugin.onRequestReceived(exchange);
        }
    }

    /** Runs {@link Plugin#onClientIdentified}; a plugin may reject. */
    public void clientIdentified(Exchange exchange) {
        for (Plugin plugin : plugins) {
            plugin.onClientIdentified(exchange);
        }
    }

    public void responseHeaders(Exchange exchange) {
        for (Plugin plugin : plugins) {
            try {
                plugin.onResponseHeaders(exchange);
            } catch (RuntimeException | LinkageError e) {
                logFailure(plugin, "onResponseHeaders", exchange, e);
            }
        }
    }

    public void responseBody(Exchange exchange, byte[] body) {
        for (Plugin plugin : plugins) {
            try {
                plugin.onResponseBody(exchange, body);
            } catch (RuntimeException | LinkageError e) {
                logFailure(plugin, "onResponseBody", exchange, e);
            }
        }
    }

    /**
     * Runs {@link Plugin#onStreamEvent}. A plugin that fails on an event is logged once per stream, with the
     * exception; how many events it failed on in all is logged when the stream ends. A broken plugin thus costs one
     * line per stream, not one stack trace per event.
     */
    public void streamEvent(Exchange exchange, SseEvent event) {
        for (Plugin plugin : plugins) {
            try {
                plugin.onStreamEvent(exchange, event);
            } catch (RuntimeException | LinkageError e) {
                Map<Plugin, Integer> failures = exchange.get(STREAM_EVENT_FAILURES);
                if (failures == null) {
                    failures = new IdentityHashMap<>();
                    exchange.put(STREAM_EVENT_FAILURES, failures);
                }
                if (failures.merge(plugin, 1, Integer::sum) == 1) {
                    logFailure(plugin, "onStreamEvent", exchange, e);
                }
            }
        }
    }

    public void streamEnded(Exchange exchange) {
        Map<Plugin, Integer> failures = exchange.get(STREAM_EVENT_FAILURES);
        if (failures != null) {
            failures.forEach((plugin, count) -> {
                if (count > 1) {
                    LOG.error("plugin {} failed in onStreamEvent on {} events of request {} (the first is logged above)",
                            plugin.getClass().getName(), count, exchange.requestId());
                }
            });
        }
        for (Plugin plugin : plugins) {
            try {
                plugin.onStreamEnded(exchange);
            } catch (RuntimeException | LinkageError e) {
                logFailure(plugin, "onStreamEnded", exchange, e);
            }
        }
    }

    public void usage(Exchange exchange, UsageRecord usage) {
        for (Plugin plugin : plugins) {
            try {
                plugin.onUsage(exchange, usage);
            } catch (RuntimeException | LinkageError e) {
                logFailure(plugin, "onUsage", exchange, e);
            }
        }
    }

    /** Every plugin's current readiness problem, prefixed with its class name; empty when all are ready. */
    public List<String> readinessProblems() {
        List<String> problems = new ArrayList<>();
        for (Plugin plugin : plugins) {
            String problem = plugin.readinessProblem();
            if (problem != null) {
                problems.add(plugin.getClass().getSimpleName() + ": " + problem);
            }
        }
        return problems;
    }

    /** Closes every plugin in reverse order, so sinks flush after the plugins that feed them. */
    @Override
    public void close() {
        for (int i = plugins.size() - 1; i >= 0; i--) {
            Plugin plugin = plugins.get(i);
            try {
                plugin.close();
            } catch (RuntimeException e) {
                LOG.error("plugin {} failed to close", plugin.getClass().getName(), e);
            }
        }
    }

    private static void logFailure(Plugin plugin, String hook, Exchange exchange, Throwable e) {
        LOG.error("plugin {} failed in {} for request {}", plugin.getClass().getName(), hook, exchange.requestId(), e);
    }
}
