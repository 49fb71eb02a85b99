package io.powerproxy.plugins;

import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.config;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.plugin;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.stubTokenAndIngestion;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.uploads;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.config.ConfigException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.HttpsWireMock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LogUsageToLogAnalytics with {@code format: original} sends, to WireMock playing the Logs Ingestion API, the rows the
 * Python original sent, which fit the table its deployment script created.
 */
class LogUsageToLogAnalyticsOriginalTableTest {

    /**
     * The columns of the table the original's Deploy-ToAzure.ps1 created (lines 214-231), with their types, in the
     * order the original's LogUsageToLogAnalytics.py put them in a row (lines 124-137); TimeGenerated is set by the
     * rule, not sent.
     */
    private static final Map<String, String> ORIGINAL_TABLE = orderedMap(
            "Client", "string", "RequestReceivedUtc", "string", "IsStreaming", "boolean", "PromptTokens", "int",
            "CompletionTokens", "int", "TotalTokens", "int", "AoaiRoundtripTimeMS", "int", "AoaiRegion", "string",
            "AoaiEndpoint", "string", "AoaiVirtualDeployment", "string", "AoaiStandinDeployment", "string",
            "AoaiApiVersion", "string");
    /**
     * The rows the original sent for the two requests of {@link LogUsageToCsvFileOriginalFormatTest}, built from
     * LogUsageToLogAnalytics.py (lines 124-137): RequestReceivedUtc is {@code f"{request_received_utc}"}, Python's
     * {@code str()} of the datetime (app/powerproxy.py, line 204); AoaiRoundtripTimeMS the whole number of lines
     * 494-498; None (JSON null) for a missing region and for the deployments of an endpoint without virtual
     * deployments (lines 362-366); "" for a missing API version (line 229).
     */
    private static final String ORIGINAL_ROWS = """
            [{"Client":"Team A","RequestReceivedUtc":"2026-11-25 10:15:30.123000+00:00","IsStreaming":false,\
            "PromptTokens":8,"CompletionTokens":2,"TotalTokens":10,"AoaiRoundtripTimeMS":412,\
            "AoaiRegion":"Sweden Central","AoaiEndpoint":"Sweden","AoaiVirtualDeployment":null,\
            "AoaiStandinDeployment":null,"AoaiApiVersion":"2024-10-21"},
             {"Client":"Team B","RequestReceivedUtc":"2026-11-25 10:15:31+00:00","IsStreaming":true,\
            "PromptTokens":14,"CompletionTokens":21,"TotalTokens":35,"AoaiRoundtripTimeMS":1203,\
            "AoaiRegion":null,"AoaiEndpoint":"France","AoaiVirtualDeployment":"gpt-4o",\
            "AoaiStandinDeployment":"gpt-4o-ptu","AoaiApiVersion":""}]""";
    private static final ObjectMapper JSON = new ObjectMapper();

    static HttpsWireMock azure;

    @TempDir
    Path dir;

    @BeforeAll
    static void startAzure() {
        azure = HttpsWireMock.start();
    }

    @AfterAll
    static void stopAzure() {
        azure.close();
    }

    @BeforeEach
    void stubAzure() {
        stubTokenAndIngestion(azure);
    }

    @Test
    void rowsHaveExactlyTheOriginalsColumnsValuesAndTypes() throws Exception {
        try (LogUsageToLogAnalytics plugin = plugin(azure, config(azure, dir, """
                format: original
                batch_max_seconds: 0.1"""))) {
            plugin.onUsage(null, LogUsageToCsvFileOriginalFormatTest.TEAM_A_SWEDEN);
            plugin.onUsage(null, LogUsageToCsvFileOriginalFormatTest.TEAM_B_STANDIN);
            Await.until("two rows sent", () -> sentRows().size() == 2);
        }

        List<JsonNode> rows = sentRows();
        JsonNode expected = JSON.readTree(ORIGINAL_ROWS);
        for (int i = 0; i < 2; i++) {
            JsonNode row = rows.get(i);
            assertEquals(expected.get(i), row);
            assertEquals(List.copyOf(ORIGINAL_TABLE.keySet()), fieldNames(row));
            ORIGINAL_TABLE.forEach((column, type) -> assertTrue(fits(row.get(column), type),
                    column + " " + row.get(column) + " is no " + type));
        }
    }

    @Test
    void extendedColumnsCannotGoToTheOriginalsTable() {
        ConfigException error = assertThrows(ConfigException.class, () -> plugin(azure, config(azure, dir, """
                format: original
                extended_columns: true""")));

        assertEquals(List.of("plugins[0].extended_columns cannot be true with format: original: the original's table"
                + " has none of the extended columns"), error.problems());
    }

    @Test
    void aFormatOtherThanOriginalOrDefaultIsAConfigError() {
        ConfigException error = assertThrows(ConfigException.class, () -> plugin(azure, config(azure, dir,
                "format: v1")));

        assertEquals(List.of("plugins[0].format must be original (the Python original's format) or default (this"
                + " proxy's, also when not set), got 'v1'"), error.problems());
    }

    /** Whether a JSON value fits a Log Analytics column type; null fits every type. */
    private static boolean fits(JsonNode value, String type) {
        return value.isNull() || switch (type) {
            case "string" -> value.isTextual();
            case "boolean" -> value.isBoolean();
            case "int" -> value.isIntegralNumber();
            default -> throw new AssertionError(type);
        };
    }

    private static List<JsonNode> sentRows() {
        List<JsonNode> rows = new ArrayList<>();
        uploads(azure).stream().filter(upload -> upload.status() == 204).forEach(upload -> rows.addAll(upload.rows()));
        return rows;
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static Map<String, String> orderedMap(String... keysAndValues) {
        Map<String, String> map = new java.util.LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }
}
