/**
 * The proxy's Prometheus metrics ({@link io.powerproxy.metrics.ProxyMetrics}): one object per process, label values
 * bounded by the configuration, served as text at {@code /powerproxy/metrics}.
 */
package io.powerproxy.metrics;
