package io.powerproxy.metrics;

import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginMetrics;
import io.powerproxy.pipeline.UsageSinkMetrics;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.DoubleSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The proxy's metrics, one object per process, served at {@code GET /powerproxy/metrics} through the Prometheus Java
 * client's text writers (README "Metrics" lists every metric).
 *
 * <p>Label values are bounded by the configuration ({@link LabelValues}): a name it does not know counts as
 * {@code other}. The request path looks its series up in arrays indexed by those values, filled on first use, so
 * counting a request builds no string, list or map; {@link #configApplied} swaps the whole set at once.
 */
public final class ProxyMetrics implements PluginMetrics {

    /** The environment variable that opens {@code /powerproxy/metrics} to callers without a client key. */
    public static final String AUTH_ENV = "POWERPROXY_METRICS_AUTH";
    private static final java.util.regex.Pattern CLASSIC_NAME = java.util.regex.Pattern.compile(
            "[a-zA-Z_:][a-zA-Z0-9_:]*");
    /** Statuses 0 to 599 each have their own slot; anything else counts as 0. */
    private static final int STATUS_SLOTS = 600;
    private static final double[] UPSTREAM_SECONDS = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300};
    private static final double[] FIRST_BYTE_SECONDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    /** The series of one configuration's label values, filled on first use. */
    private final class Series {
        final LabelValues names;
        /** By (client, deployment, endpoint), then by status. */
        final AtomicReferenceArray<AtomicReferenceArray<CounterDataPoint>> requests;
        /** By (client, deployment): prompt reported, prompt estimated, completion reported, completion estimated. */
        final AtomicReferenceArray<CounterDataPoint[]> tokens;
        final DistributionDataPoint[] upstreamDuration;
        final DistributionDataPoint[] firstByte;

        Series(LabelValues names) {
            this.names = names;
            this.requests = new AtomicReferenceArray<>(names.clientCount() * names.deploymentCount()
                    * names.endpointCount());
            this.tokens = new AtomicReferenceArray<>(names.clientCount() * names.deploymentCount());
            this.upstreamDuration = new DistributionDataPoint[names.endpointCount()];
            this.firstByte = new DistributionDataPoint[names.endpointCount()];
            for (int e = 0; e < names.endpointCount(); e++) {
                upstreamDuration[e] = upstreamDurationHistogram.labelValues(names.endpointName(e));
                firstByte[e] = firstByteHistogram.labelValues(names.endpointName(e));
            }
        }

        CounterDataPoint request(int client, int deployment, int endpoint, int status) {
            int cell = (client * names.deploymentCount() + deployment) * names.endpointCount() + endpoint;
            AtomicReferenceArray<CounterDataPoint> byStatus = requests.get(cell);
            if (byStatus == null) {
                requests.compareAndSet(cell, null, new AtomicReferenceArray<>(STATUS_SLOTS));
                byStatus = requests.get(cell);
            }
            int slot = status >= 0 && status < STATUS_SLOTS ? status : 0;
            CounterDataPoint point = byStatus.get(slot);
            if (point == null) {
                // The library hands out the same data point for the same labels, so a race costs one lookup.
                point = requestsCounter.labelValues(names.clientName(client), names.deploymentName(deployment),
                        names.endpointName(endpoint), Integer.toString(slot));
                byStatus.set(slot, point);
            }
            return point;
        }

        CounterDataPoint[] tokens(int client, int deployment) {
            int cell = client * names.deploymentCount() + deployment;
            CounterDataPoint[] points = tokens.get(cell);
            if (points == null) {
                String c = names.clientName(client);
                String d = names.deploymentName(deployment);
                points = new CounterDataPoint[] {
                        tokensCounter.labelValues(c, d, "prompt", "reported"),
                        tokensCounter.labelValues(c, d, "prompt", "estimated"),
                        tokensCounter.labelValues(c, d, "completion", "reported"),
                        tokensCounter.labelValues(c, d, "completion", "estimated")};
                tokens.set(cell, points);
            }
            return points;
        }
    }

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final ExpositionFormats formats = ExpositionFormats.init();
    private final boolean scrapeNeedsClientKey;

    private final Counter requestsCounter;
    private final Counter tokensCounter;
    private final Histogram upstreamDurationHistogram;
    private final Histogram firstByteHistogram;
    private final Gauge openStreams;
    private final Counter failovers;
    private final Counter blocks;
    private final Counter rejections;
    private final Counter reloads;
    private final Gauge lastReloadSucceeded;
    private final Counter rowsQueued;
    private final Counter rowsWritten;
    private final Counter rowsDeadLettered;
    private final Counter rowsLost;
    private final Map<String, LongSupplier> spooled = new java.util.concurrent.ConcurrentHashMap<>();
    private final AtomicReference<Supplier<Map<String, Long>>> blockedMillis = new AtomicReference<>(Map::of);
    private final AtomicReference<Series> series = new AtomicReference<>();

    private ProxyMetrics(boolean scrapeNeedsClientKey) {
        this.scrapeNeedsClientKey = scrapeNeedsClientKey;
        requestsCounter = Counter.builder().name("powerproxy_requests_total")
                .help("Requests answered, by client, requested deployment, endpoint that answered and status")
                .labelNames("client", "deployment", "endpoint", "status").withoutExemplars().register(registry);
        tokensCounter = Counter.builder().name("powerproxy_tokens_total")
                .help("Tokens used, by client and requested deployment; type is prompt or completion, source tells"
                        + " whether the upstream reported them or the proxy estimated them")
                .labelNames("client", "deployment", "type", "source").withoutExemplars().register(registry);
        upstreamDurationHistogram = Histogram.builder().name("powerproxy_upstream_duration_seconds")
                .help("Time from sending a request to an endpoint to the last byte of its answer")
                .labelNames("endpoint").classicOnly().classicUpperBounds(UPSTREAM_SECONDS).withoutExemplars()
                .register(registry);
        firstByteHistogram = Histogram.builder().name("powerproxy_upstream_first_byte_seconds")
                .help("Time from sending a request to an endpoint to its answer's status and headers")
                .labelNames("endpoint").classicOnly().classicUpperBounds(FIRST_BYTE_SECONDS).withoutExemplars()
                .register(registry);
        openStreams = Gauge.builder().name("powerproxy_open_streams")
                .help("Streamed (SSE) answers being passed on now").withoutExemplars().register(registry);
        failovers = Counter.builder().name("powerproxy_failovers_total")
                .help("Attempts at a target that failed or found it busy, after which the request tried the next"
                        + " target; reason is the answer's status, timeout, unreachable or busy")
                .labelNames("target", "reason").withoutExemplars().register(registry);
        blocks = Counter.builder().name("powerproxy_target_blocks_total")
                .help("Blocks that began: a target that was not blocked became blocked; reason as for failovers")
                .labelNames("target", "reason").withoutExemplars().register(registry);
        GaugeWithCallback.builder().name("powerproxy_target_blocked_seconds")
                .help("How long each target stays blocked from now on; 0 when it is not blocked")
                .labelNames("target")
                .callback(callback -> blockedMillis.get().get()
                        .forEach((target, millis) -> callback.call(Math.max(0, millis) / 1000.0, target)))
                .register(registry);
        rejections = Counter.builder().name("powerproxy_plugin_rejections_total")
                .help("Requests a plugin refused (e.g. LimitUsage's 429), by plugin, client and status")
                .labelNames("plugin", "client", "status").withoutExemplars().register(registry);
        reloads = Counter.builder().name("powerproxy_config_reloads_total")
                .help("Configuration reloads, by result: applied or rejected (the old configuration stays)")
                .labelNames("result").withoutExemplars().register(registry);
        reloads.initLabelValues("applied");
        reloads.initLabelValues("rejected");
        lastReloadSucceeded = Gauge.builder().name("powerproxy_config_last_reload_success")
                .help("1 when the last configuration reload was applied (or none was tried), 0 when it was rejected")
                .withoutExemplars().register(registry);
        lastReloadSucceeded.set(1);
        rowsQueued = sinkCounter("powerproxy_usage_rows_queued_total",
                "Usage rows a sink took in to write later (journaled for upload)");
        rowsWritten = sinkCounter("powerproxy_usage_rows_written_total",
                "Usage rows a sink delivered to its destination (file, Log Analytics)");
        rowsDeadLettered = sinkCounter("powerproxy_usage_rows_dead_lettered_total",
                "Usage rows the destination refused for good, kept in the sink's dead-letter file");
        rowsLost = sinkCounter("powerproxy_usage_rows_lost_total",
                "Usage rows a sink could not keep at all (logged at ERROR instead)");
        GaugeWithCallback.builder().name("powerproxy_usage_rows_spooled")
                .help("Usage rows waiting in a sink's on-disk spool to be sent")
                .labelNames("sink")
                .callback(callback -> spooled.forEach((sink, rows) -> callback.call(rows.getAsLong(), sink)))
                .register(registry);
        JvmMetrics.builder().register(registry);
    }

    /**
     * The metrics of a process started on this configuration.
     *
     * @param scrapeNeedsClientKey whether {@code /powerproxy/metrics} asks for a configured client key
     */
    public static ProxyMetrics create(ProxyConfig config, boolean scrapeNeedsClientKey) {
        ProxyMetrics metrics = new ProxyMetrics(scrapeNeedsClientKey);
        metrics.configApplied(config);
        return metrics;
    }

    /**
     * Whether {@code /powerproxy/metrics} asks for a client key, from {@value #AUTH_ENV}: {@code client-key} (the
     * default) or {@code none}.
     *
     * @throws IllegalArgumentException for any other value
     */
    public static boolean scrapeNeedsClientKey(Map<String, String> env) {
        String value = env.get(AUTH_ENV);
        if (value == null || value.isBlank() || value.strip().equals("client-key")) {
            return true;
        }
        if (value.strip().equals("none")) {
            return false;
        }
        throw new IllegalArgumentException("the environment variable " + AUTH_ENV + " must be 'client-key' (the"
                + " default: /powerproxy/metrics needs a client key) or 'none' (open to anyone who can reach the port),"
                + " not '" + value + "'");
    }

    private Counter sinkCounter(String name, String help) {
        return Counter.builder().name(name).help(help).labelNames("sink").withoutExemplars().register(registry);
    }

    /**
     * Makes the clients, deployments and endpoints of this configuration the label values from now on; series of
     * earlier ones keep their counts.
     */
    public void configApplied(ProxyConfig config) {
        series.set(new Series(LabelValues.of(config)));
    }

    /** A configuration reload was applied. */
    public void reloadApplied() {
        reloads.labelValues("applied").inc();
        lastReloadSucceeded.set(1);
    }

    /** A configuration reload was rejected (invalid); the configuration in use stays. */
    public void reloadRejected() {
        reloads.labelValues("rejected").inc();
        lastReloadSucceeded.set(0);
    }

    /** Whether {@code /powerproxy/metrics} asks for a configured client key. */
    public boolean scrapeNeedsClientKey() {
        return scrapeNeedsClientKey;
    }

    /**
     * Counts a request that ended.
     *
     * @param client the client's configured name, or null when none was identified
     * @param deployment the deployment asked for, or null
     * @param endpoint the endpoint that was tried last, or null when none was
     * @param rejectedBy the plugin that refused the request, or null
     */
    public void requestEnded(String client, String deployment, String endpoint, int status, String rejectedBy) {
        Series current = series.get();
        LabelValues names = current.names;
        int c = names.client(client);
        current.request(c, names.deployment(deployment), names.endpoint(endpoint), status).inc();
        if (rejectedBy != null) {
            // Rare, and bounded by the configured plugins: the library's own lookup is cheap enough.
            rejections.labelValues(rejectedBy, names.clientName(c), Integer.toString(status)).inc();
        }
    }

    /**
     * Counts the tokens and timings of one usage record.
     *
     * @param estimated whether the proxy estimated the counts (else the upstream reported them)
     * @param upstreamNanos from sending to the answer's last byte
     * @param firstByteNanos from sending to the answer's headers
     */
    public void usage(String client, String deployment, String endpoint, long promptTokens, long completionTokens,
            boolean estimated, long upstreamNanos, long firstByteNanos) {
        Series current = series.get();
        LabelValues names = current.names;
        CounterDataPoint[] tokens = current.tokens(names.client(client), names.deployment(deployment));
        int source = estimated ? 1 : 0;
        if (promptTokens > 0) {
            tokens[source].inc(promptTokens);
        }
        if (completionTokens > 0) {
            tokens[2 + source].inc(completionTokens);
        }
        int e = names.endpoint(endpoint);
        current.upstreamDuration[e].observe(upstreamNanos / 1e9);
        current.firstByte[e].observe(firstByteNanos / 1e9);
    }

    /** A streamed answer starts being passed on. */
    public void streamOpened() {
        openStreams.inc();
    }

    /** A streamed answer ended, whatever the way. */
    public void streamClosed() {
        openStreams.dec();
    }

    /**
     * An attempt at a target failed or found it busy, and the request moves on.
     *
     * @param target the target's name ({@code endpoint} or {@code endpoint/stand-in})
     * @param reason the answer's status, {@code timeout}, {@code unreachable} or {@code busy}
     * @param blockBegan whether this made a target that was not blocked blocked
     */
    public void failedOver(String target, String reason, boolean blockBegan) {
        failovers.labelValues(target, reason).inc();
        if (blockBegan) {
            blocks.labelValues(target, reason).inc();
        }
    }

    /** Where {@code powerproxy_target_blocked_seconds} reads each target's remaining block (ms), at each scrape. */
    public void targetBlocks(Supplier<Map<String, Long>> remainingMillisByTarget) {
        blockedMillis.set(remainingMillisByTarget);
    }

    /** Where the request-body memory gauges read their values. */
    public void requestBodyMemory(LongSupplier bytesInUse, long limitBytes) {
        GaugeWithCallback.builder().name("powerproxy_request_body_memory_bytes")
                .help("Bytes of request bodies (and held JSON answers) the requests in flight hold now")
                .callback(callback -> callback.call(bytesInUse.getAsLong())).register(registry);
        GaugeWithCallback.builder().name("powerproxy_request_body_memory_limit_bytes")
                .help("The most bytes request bodies may hold at once; requests beyond it get 503")
                .callback(callback -> callback.call(limitBytes)).register(registry);
    }

    /** The plugins' gauges by name, so that a reloaded plugin's gauge replaces its predecessor's value. */
    private final ConcurrentHashMap<String, AtomicReference<DoubleSupplier>> pluginGauges = new ConcurrentHashMap<>();

    /** Where the gauge of requests being handled now reads its value. */
    public void requestsInFlight(IntSupplier count) {
        GaugeWithCallback.builder().name("powerproxy_requests_in_flight")
                .help("Requests being handled now, the proxy's own endpoints included")
                .callback(callback -> callback.call(count.getAsInt())).register(registry);
    }

    @Override
    public UsageSinkMetrics usageSink(String sink) {
        CounterDataPoint queued = rowsQueued.labelValues(sink);
        CounterDataPoint written = rowsWritten.labelValues(sink);
        CounterDataPoint deadLettered = rowsDeadLettered.labelValues(sink);
        CounterDataPoint lost = rowsLost.labelValues(sink);
        // Every sink has each series from the start, so that increase() sees its first row and alerts can rely on it;
        // a sink without a spool has none waiting.
        spooled.putIfAbsent(sink, () -> 0);
        return new UsageSinkMetrics() {
            @Override
            public void queued(long rows) {
                queued.inc(rows);
            }

            @Override
            public void written(long rows) {
                written.inc(rows);
            }

            @Override
            public void deadLettered(long rows) {
                deadLettered.inc(rows);
            }

            @Override
            public void lost(long rows) {
                lost.inc(rows);
            }

            @Override
            public void spooled(LongSupplier rowsWaiting) {
                spooled.put(sink, rowsWaiting);
            }
        };
    }

    @Override
    public void gauge(String name, String help, DoubleSupplier value) {
        // The library takes any UTF-8 name, which older scrapers and PromQL without quoting cannot use.
        if (name == null || !CLASSIC_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("a metric name must match " + CLASSIC_NAME.pattern() + ", like"
                    + " powerproxy_plugin_queue_rows; got '" + name + "'");
        }
        AtomicReference<DoubleSupplier> registered = pluginGauges.get(name);
        if (registered != null) {
            // A plugin made anew by a config reload takes over the gauge of the one it replaces.
            registered.set(value);
            return;
        }
        AtomicReference<DoubleSupplier> current = new AtomicReference<>(value);
        GaugeWithCallback.builder().name(name).help(help)
                .callback(callback -> callback.call(current.get().getAsDouble()))
                .register(registry);
        pluginGauges.put(name, current);
    }

    /** The writer for a request's {@code Accept} header: OpenMetrics when asked for, else the Prometheus text format. */
    public ExpositionFormatWriter writerFor(String accept) {
        ExpositionFormatWriter writer = formats.findWriter(accept);
        // The protobuf format needs a module the proxy does not ship: text it is.
        return writer.isAvailable() ? writer : formats.getPrometheusTextFormatWriter();
    }

    /** Writes every metric's current value in the writer's format. */
    public void scrape(ExpositionFormatWriter writer, OutputStream out) throws IOException {
        writer.write(out, registry.scrape());
    }

    /** The label values in force, for tests. */
    LabelValues labelValues() {
        return series.get().names;
    }
}
