package io.powerproxy.pipeline;

import java.util.function.DoubleSupplier;

/**
 * Where a plugin reports figures for {@code GET /powerproxy/metrics} (README "Metrics"): usage sinks report their
 * rows, and any plugin may add a gauge read at each scrape. Plugins get it from {@link PluginContext#metrics()} when
 * they are created; its methods are safe to call from any thread.
 */
public interface PluginMetrics {

    /** Figures that go nowhere, for plugins created outside a running proxy (tests, {@code --validate}). */
    PluginMetrics NONE = new PluginMetrics() {
        @Override
        public UsageSinkMetrics usageSink(String sink) {
            return UsageSinkMetrics.NONE;
        }

        @Override
        public void gauge(String name, String help, DoubleSupplier value) {
        }
    };

    /** The row counters of the usage sink of this name (its plugin's name), e.g. {@code LogUsageToCsvFile}. */
    UsageSinkMetrics usageSink(String sink);

    /**
     * A gauge with this name and help text whose value is read at each scrape; the name must be a valid Prometheus
     * name (e.g. {@code powerproxy_redis_breaker_open}) that no other metric has.
     *
     * @throws IllegalArgumentException when the name is not valid or taken
     */
    void gauge(String name, String help, DoubleSupplier value);
}
