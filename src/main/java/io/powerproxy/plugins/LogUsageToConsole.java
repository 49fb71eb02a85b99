package io.powerproxy.plugins;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.config.ConfigException;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.usage.BatchingWriter;
import io.powerproxy.usage.UsageRecord;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Prints every usage record to stdout as one JSON object per line (§7), for log collectors and {@code jq}.
 *
 * <p>The Python original printed a block of "Label : value" lines per request; this prints machine-readable JSON
 * instead, with the {@link UsageRecord#COLUMNS} as keys in that order, numbers and booleans as JSON numbers and
 * booleans, and {@code null} for what is missing:
 * <pre>{"request_received_utc":"2026-11-25T10:15:30.123Z","client":"Team A","is_streaming":false,"prompt_tokens":14,...}</pre>
 * Lines are printed by a writer thread, never on the request's thread.
 */
public final class LogUsageToConsole implements Plugin {

    static final String NAME = "LogUsageToConsole";
    /** How long {@link #close()} may take to print what is queued. */
    static final Duration FLUSH_TIMEOUT = Duration.ofSeconds(10);
    private static final ObjectMapper JSON = Json.MAPPER;

    private final BatchingWriter<UsageRecord> writer;

    private LogUsageToConsole(BatchingWriter<UsageRecord> writer) {
        this.writer = writer;
    }

    /** The factory that registers this plugin under its name; it prints to {@link System#out}. */
    public static PluginFactory factory() {
        return factory(null);
    }

    /** The same, printing to the given stream, or to {@link System#out} as it is at creation when null. */
    static PluginFactory factory(PrintStream out) {
        return PluginFactory.of(NAME, context -> {
            List<String> problems = new ArrayList<>();
            Settings.rejectUnknown(context.settings(), Set.of(), problems);
            if (!problems.isEmpty()) {
                throw new ConfigException(problems);
            }
            PrintStream target = out == null ? System.out : out;
            return new LogUsageToConsole(BatchingWriter.start(NAME, batch -> print(target, batch),
                    BatchingWriter.logAtError(NAME + ": usage record", LogUsageToConsole::json),
                    BatchingWriter.Options.defaults()));
        });
    }

    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        writer.offer(usage);
    }

    @Override
    public String readinessProblem() {
        return writer.problem();
    }

    @Override
    public void close() {
        writer.close(FLUSH_TIMEOUT);
    }

    /**
     * One usage record as a single-line JSON object with the {@link UsageRecord#COLUMNS} as keys, in that order;
     * the format of this plugin's lines and of the usage sinks' fallback log lines.
     */
    static String json(UsageRecord usage) {
        ObjectNode node = JSON.createObjectNode();
        node.put("request_received_utc", usage.requestReceivedUtc().toString());
        node.put("client", usage.client());
        node.put("is_streaming", usage.isStreaming());
        node.put("prompt_tokens", usage.promptTokens());
        node.put("completion_tokens", usage.completionTokens());
        node.put("total_tokens", usage.totalTokens());
        node.put("aoai_roundtrip_time_ms", usage.aoaiRoundtripTimeMs());
        node.put("aoai_region", usage.aoaiRegion());
        node.put("aoai_endpoint", usage.aoaiEndpoint());
        node.put("aoai_virtual_deployment", usage.aoaiVirtualDeployment());
        node.put("aoai_standin_deployment", usage.aoaiStandinDeployment());
        node.put("aoai_api_version", usage.aoaiApiVersion());
        node.put("status_code", usage.statusCode());
        node.put("operation", usage.operation().label());
        node.put("model", usage.model());
        node.put("usage_source", usage.usageSource().label());
        node.put("request_id", usage.requestId());
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void print(PrintStream out, List<UsageRecord> batch) {
        StringBuilder lines = new StringBuilder(batch.size() * 400);
        for (UsageRecord usage : batch) {
            lines.append(json(usage)).append('\n');
        }
        // One print per batch, so that log lines from other threads cannot land inside a record's line.
        // PrintStream reports no I/O errors, so there is nothing to retry here.
        out.print(lines);
        out.flush();
    }
}
