package io.powerproxy.plugins;

import io.powerproxy.loganalytics.LogAnalyticsRows;
import io.powerproxy.loganalytics.LogAnalyticsSettings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The table and DCR definitions in {@code deploy/log-analytics/} declare exactly the columns the plugin sends. */
class LogUsageToLogAnalyticsDeployFilesTest {

    private static final Path DEPLOY = Path.of("deploy", "log-analytics");
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Map<String, String> columns(JsonNode array) {
        Map<String, String> columns = new LinkedHashMap<>();
        array.forEach(column -> columns.put(column.get("name").asText(), column.get("type").asText()));
        return columns;
    }

    @Test
    void theDcrTemplateDeclaresTheOriginalsColumnsThenTheExtendedOnesWithClientAsText() throws IOException {
        JsonNode template = JSON.readTree(Files.readString(DEPLOY.resolve("dcr.template.json")));
        Map<String, String> original = columns(template.at("/variables/originalColumns"));
        Map<String, String> extended = columns(template.at("/variables/extendedColumns"));

        assertEquals(LogAnalyticsRows.COLUMNS, List.copyOf(original.keySet()));
        assertEquals(LogAnalyticsRows.EXTENDED_COLUMNS, List.copyOf(extended.keySet()));
        assertEquals("string", original.get("Client"));
        JsonNode rule = template.at("/resources/0/properties");
        assertTrue(rule.at("/streamDeclarations").has(LogAnalyticsSettings.DEFAULT_STREAM));
        assertEquals(LogAnalyticsSettings.DEFAULT_STREAM, rule.at("/dataFlows/0/outputStream").asText());
    }

    @Test
    void theTableHasTimeGeneratedAndEveryColumnOfTheStreamWithTheSameTypes() throws IOException {
        JsonNode template = JSON.readTree(Files.readString(DEPLOY.resolve("dcr.template.json")));
        Map<String, String> stream = new LinkedHashMap<>(Map.of("TimeGenerated", "datetime"));
        stream.putAll(columns(template.at("/variables/originalColumns")));
        stream.putAll(columns(template.at("/variables/extendedColumns")));
        JsonNode table = JSON.readTree(Files.readString(DEPLOY.resolve("table.json")));

        Map<String, String> tableColumns = columns(table.at("/properties/schema/columns"));
        assertEquals(stream, tableColumns);
        assertEquals("AzureOpenAIUsage_PP_CL", table.at("/properties/schema/name").asText());

        String readme = Files.readString(DEPLOY.resolve("README.md"));
        List<String> missing = new ArrayList<>();
        tableColumns.forEach((name, type) -> {
            if (!readme.contains(name + "=" + type)) {
                missing.add(name + "=" + type);
            }
        });
        assertEquals(List.of(), missing, "columns the README's az commands lack");
    }
}
