package io.powerproxy.pipeline;

import io.powerproxy.streaming.SseEvent;
import io.powerproxy.usage.UsageRecord;
import java.util.ArrayList;
import java.util.List;
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

    public void streamEvent(Exchange exchange, SseEvent event) {
        for (Plugin plugin : plugins) {
            try {
                plugin.onStreamEvent(exchange, event);
            } catch (RuntimeException | LinkageError e) {
                logFailure(plugin, "onStreamEvent", exchange, e);
            }
        }
    }

    public void streamEnded(Exchange exchange) {
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
