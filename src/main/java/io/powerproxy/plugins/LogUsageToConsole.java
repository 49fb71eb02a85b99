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
import io.powerproxy.usage.UsageRecord;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Prints every usage record to stdout as one JSON object per line, for log collectors and {@code jq}.
 *
 * <p>The Python original printed a block of "Label : value" lines per request; this prints machine-readable JSON
 * instead, with the {@link UsageRecord#COLUMNS} as keys in that order, numbers and booleans as JSON numbers and
 * booleans, and {@code null} for what is missing:
 * <pre>{"request_received_utc":"2026-11-25T10:15:30.123Z","client":"Team A","is_streaming":false,"prompt_tokens":14,...}</pre>
 * With {@code format: original} it prints the original's block of "Label : value" lines instead
 * ({@link OriginalFormat#consoleBlock}), for scripts that parse the original's output.
 *
 * <p>Each line (or block) is printed and flushed on the request's thread before {@link #onUsage} returns, so it has
 * reached stdout (one {@code write(2)}) before the answer's last byte leaves.
 */
public final class LogUsageToConsole implements Plugin {

    static final String NAME = "LogUsageToConsole";
    private static final ObjectMapper JSON = Json.MAPPER;

    private final PrintStream out;
    private final boolean original;

    private LogUsageToConsole(PrintStream out, boolean original) {
        this.out = out;
        this.original = original;
    }

    /** The factory that registers this plugin under its name; it prints to {@link System#out}. */
    public static PluginFactory factory() {
        return factory(null);
    }

    /** The same, printing to the given stream, or to {@link System#out} as it is at creation when null. */
    static PluginFactory factory(PrintStream out) {
        return PluginFactory.ofOwnSettingsOnly(NAME, context -> {
            List<String> problems = new ArrayList<>();
            Settings.rejectUnknown(context.settings(), Set.of(OriginalFormat.SETTING), problems);
            boolean original = OriginalFormat.chosen(context.settings(), problems);
            if (!problems.isEmpty()) {
                throw new ConfigException(problems);
            }
            return new LogUsageToConsole(out == null ? System.out : out, original);
        });
    }

    /**
     * Prints the line (or block) with one {@code print}, so that lines of other threads cannot land inside it (a
     * {@link PrintStream} locks around each call), and flushes it to stdout. {@link PrintStream} reports no I/O
     * errors, so a closed stdout loses the line without a word, as it would any log line.
     */
    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        out.print(original ? OriginalFormat.consoleBlock(usage) : json(usage) + "\n");
        out.flush();
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
        node.put("trace_id", usage.traceId());
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
