package io.powerproxy.plugins;

import io.powerproxy.config.PluginConfig;
import io.powerproxy.usage.UsageRecord;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;

/**
 * The Python original's usage output, byte for byte, for the billing scripts its users have: the rows of its
 * {@code LogUsageToCsvFile}, the blocks of its {@code LogUsageToConsole} (both in {@code app/plugins/LogUsage/} of
 * timoklimmer/powerproxy-aoai), chosen with {@code format: original}.
 *
 * <p>The original's values, where they differ from this proxy's:
 * <ul>
 *   <li>{@code request_received_utc} is Python's {@code str()} of an aware UTC datetime:
 *       {@code 2026-11-25 10:15:30.123000+00:00}, microseconds dropped when they are zero.</li>
 *   <li>{@code aoai_roundtrip_time_ms} is a whole number of milliseconds.</li>
 *   <li>{@code aoai_virtual_deployment} is set only when a stand-in served the request; for an endpoint without
 *       virtual deployments the original knew no virtual deployment.</li>
 *   <li>A missing region (and, on the console, a missing deployment) is Python's {@code None}.</li>
 * </ul>
 */
public final class OriginalFormat {

    /** The setting that chooses the format, and its two values. */
    public static final String SETTING = "format";
    public static final String ORIGINAL = "original";
    static final String DEFAULT = "default";
    /** The original CSV file's columns, in its order (LogUsageToCsvFile.py, lines 16-29). */
    static final List<String> CSV_COLUMNS = List.of("request_received_utc", "client", "is_streaming", "prompt_tokens",
            "completion_tokens", "total_tokens", "aoai_roundtrip_time_ms", "aoai_region", "aoai_endpoint",
            "aoai_virtual_deployment", "aoai_standin_deployment", "aoai_api_version");
    static final String CSV_HEADER = String.join(",", CSV_COLUMNS);

    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("uuuu-MM-dd HH:mm:ss");

    private OriginalFormat() {
    }

    /**
     * Whether the plugin's {@code format} setting asks for the original's format; a value other than
     * {@code original} or {@code default} is a problem.
     */
    public static boolean chosen(PluginConfig config, List<String> problems) {
        Object value = config.settings().get(SETTING);
        if (value == null || DEFAULT.equals(value)) {
            return false;
        }
        if (ORIGINAL.equals(value)) {
            return true;
        }
        problems.add(config.path() + "." + SETTING + " must be " + ORIGINAL + " (the Python original's format) or "
                + DEFAULT + " (this proxy's, also when not set), got " + Settings.describe(value));
        return false;
    }

    /** Python's {@code str(datetime.now(timezone.utc))}: {@code 2026-11-25 10:15:30.123456+00:00}. */
    public static String timestamp(Instant instant) {
        LocalDateTime utc = LocalDateTime.ofInstant(instant, ZoneOffset.UTC);
        int micros = utc.getNano() / 1000;
        String seconds = utc.format(SECONDS);
        return micros == 0 ? seconds + "+00:00" : seconds + "." + String.format("%06d", micros) + "+00:00";
    }

    /** The original's {@code int(end_ms - start_ms)}. */
    public static long roundtripMs(UsageRecord usage) {
        return (long) Math.floor(usage.aoaiRoundtripTimeMs());
    }

    /** The virtual deployment as the original recorded it: only when a stand-in of one served the request. */
    public static String virtualDeployment(UsageRecord usage) {
        return usage.aoaiStandinDeployment() == null ? null : usage.aoaiVirtualDeployment();
    }

    /**
     * One row of the original's CSV file without its line break (LogUsageToCsvFile.py, lines 64-79): no quoting, a
     * boolean as {@code 1} or {@code 0}, {@code None} for a missing region, an empty field for a missing deployment or
     * API version. A field with a comma or a quote, which the original wrote as it was and so broke the row, is quoted
     * as RFC 4180 says, which CSV readers take back as it was.
     */
    static String csvRow(UsageRecord usage) {
        StringBuilder row = new StringBuilder(160);
        field(row, timestamp(usage.requestReceivedUtc())).append(',');
        field(row, usage.client()).append(',');
        row.append(usage.isStreaming() ? '1' : '0').append(',');
        row.append(usage.promptTokens()).append(',');
        row.append(usage.completionTokens()).append(',');
        row.append(usage.totalTokens()).append(',');
        row.append(roundtripMs(usage)).append(',');
        field(row, python(usage.aoaiRegion())).append(',');
        field(row, python(usage.aoaiEndpoint())).append(',');
        field(row, orEmpty(virtualDeployment(usage))).append(',');
        field(row, orEmpty(usage.aoaiStandinDeployment())).append(',');
        field(row, orEmpty(usage.aoaiApiVersion()));
        return row.toString();
    }

    /**
     * The block the original printed per request (LogUsageToConsole.py, lines 25-39), with the empty line that
     * Python's {@code print} adds after its last line break.
     */
    static String consoleBlock(UsageRecord usage) {
        return "---\n"
                + "Request Received UTC            : " + timestamp(usage.requestReceivedUtc()) + "\n"
                + "Client                          : " + usage.client() + "\n"
                + "Is Streaming                    : " + (usage.isStreaming() ? "True" : "False") + "\n"
                + "Prompt Tokens                   : " + usage.promptTokens() + "\n"
                + "Completion Tokens               : " + usage.completionTokens() + "\n"
                + "Total Tokens                    : " + usage.totalTokens() + "\n"
                + "Azure OpenAI Roundtrip Time     : " + roundtripMs(usage) + " ms\n"
                + "Azure OpenAI Region             : " + python(usage.aoaiRegion()) + "\n"
                + "Azure OpenAI Endpoint           : " + python(usage.aoaiEndpoint()) + "\n"
                + "Azure OpenAI Virtual Deployment : " + python(virtualDeployment(usage)) + "\n"
                + "Azure OpenAI Standin Deployment : " + python(usage.aoaiStandinDeployment()) + "\n"
                + "Azure OpenAI API Version        : " + orEmpty(usage.aoaiApiVersion()) + "\n"
                + "\n";
    }

    /** Python's {@code f"{value}"}: {@code None} for a missing value. */
    private static String python(String value) {
        return value == null ? "None" : value;
    }

    private static String orEmpty(String value) {
        return value == null ? "" : value;
    }

    private static StringBuilder field(StringBuilder row, String value) {
        if (value.indexOf(',') < 0 && value.indexOf('"') < 0) {
            return row.append(value);
        }
        return row.append('"').append(value.replace("\"", "\"\"")).append('"');
    }
}
