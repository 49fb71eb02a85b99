package io.powerproxy.plugins;

import static io.powerproxy.plugins.PluginTestSupport.context;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.TestUsageRecord;
import io.powerproxy.usage.UsageRecord;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/** LogUsageToConsole prints each usage record as one JSON line with the column names. */
class LogUsageToConsoleTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static Exchange exchange(String requestId) {
        return new ExchangeState(requestId, Instant.parse("2026-11-25T10:15:30.123Z"), System.nanoTime(), "POST",
                "/openai/deployments/gpt-4o/chat/completions", "api-version=2024-10-21", Map.of()).view();
    }

    @Test
    void eachRecordIsPrintedAsOneJsonLineWithTheColumnNamesAndNullForWhatIsMissing() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Plugin plugin = LogUsageToConsole.factory(new PrintStream(bytes, true, UTF_8))
                .create(context("- name: LogUsageToConsole"));
        UsageRecord full = TestUsageRecord.of("req-1").received(Instant.parse("2026-11-25T10:15:30.123Z"))
                .client("Team \"A\"\nBerlin").streaming(true).tokens(14, 21).roundtripMs(812.5).region("swedencentral")
                .deployment("gpt-4o", "gpt-4o-2").model("gpt-4o-2024-08-06").build();
        UsageRecord sparse = TestUsageRecord.of("req-2").received(Instant.parse("2026-11-25T10:15:31Z"))
                .tokens(3, 0).roundtripMs(5.0).endpoint("mock").deployment(null, null).apiVersion(null).status(499)
                .operation(UsageRecord.Operation.OTHER).model(null).source(UsageRecord.UsageSource.ESTIMATED).build();

        plugin.onUsage(exchange("req-1"), full);
        plugin.onUsage(exchange("req-2"), sparse);
        plugin.close();

        String[] lines = bytes.toString(UTF_8).split("\n");
        assertEquals(2, lines.length, bytes.toString(UTF_8));
        JsonNode first = JSON.readTree(lines[0]);
        JsonNode second = JSON.readTree(lines[1]);
        List<String> keys = new ArrayList<>();
        first.fieldNames().forEachRemaining(keys::add);
        assertEquals(UsageRecord.COLUMNS, keys);
        assertEquals("2026-11-25T10:15:30.123Z", first.get("request_received_utc").asText());
        // The record itself escapes the line break (see UsageRecord).
        assertEquals("Team \"A\"\\nBerlin", first.get("client").asText());
        assertTrue(first.get("is_streaming").isBoolean() && first.get("is_streaming").asBoolean());
        assertEquals(35, first.get("total_tokens").asLong());
        assertTrue(first.get("prompt_tokens").isIntegralNumber());
        assertEquals(812.5, first.get("aoai_roundtrip_time_ms").asDouble());
        assertEquals("gpt-4o-2", first.get("aoai_standin_deployment").asText());
        assertEquals(200, first.get("status_code").asInt());
        assertEquals("chat", first.get("operation").asText());
        assertEquals("reported", first.get("usage_source").asText());
        assertEquals("req-1", first.get("request_id").asText());
        for (String missing : List.of("aoai_region", "aoai_virtual_deployment", "aoai_standin_deployment",
                "aoai_api_version", "model")) {
            assertTrue(second.has(missing) && second.get(missing).isNull(), missing);
        }
        assertEquals("estimated", second.get("usage_source").asText());
        assertEquals(499, second.get("status_code").asInt());
    }

    @Test
    void eachLineIsPrintedOnTheRequestsThreadBeforeOnUsageReturns() throws Exception {
        Set<String> printingThreads = ConcurrentHashMap.newKeySet();
        OutputStream recordingThreads = new OutputStream() {
            @Override
            public void write(int b) {
                printingThreads.add(Thread.currentThread().getName());
            }

            @Override
            public void write(byte[] b, int off, int len) {
                printingThreads.add(Thread.currentThread().getName());
            }
        };
        Plugin plugin = LogUsageToConsole.factory(new PrintStream(recordingThreads, true, UTF_8))
                .create(context("- name: LogUsageToConsole"));

        plugin.onUsage(exchange("req-1"), TestUsageRecord.of("req-1").build());

        assertEquals(Set.of(Thread.currentThread().getName()), printingThreads);
        plugin.close();
    }

    /**
     * What the original printed for the two requests of {@link LogUsageToCsvFileOriginalFormatTest}, built from its
     * code: one {@code print} per request of the block in app/plugins/LogUsage/LogUsageToConsole.py (lines 25-39), so
     * Python's {@code str()} of each value (True/False, None) and the empty line {@code print} adds. The same text came
     * out of the original's LogUsageToConsole run unchanged (Python 3.11) on these two requests.
     */
    @Test
    void formatOriginalPrintsTheOriginalsBlockPerRequestByteForByte() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Plugin plugin = LogUsageToConsole.factory(new PrintStream(bytes, true, UTF_8))
                .create(context("- name: LogUsageToConsole\n  format: original"));

        plugin.onUsage(null, LogUsageToCsvFileOriginalFormatTest.TEAM_A_SWEDEN);
        plugin.onUsage(null, LogUsageToCsvFileOriginalFormatTest.TEAM_B_STANDIN);

        assertEquals("""
                ---
                Request Received UTC            : 2026-11-25 10:15:30.123000+00:00
                Client                          : Team A
                Is Streaming                    : False
                Prompt Tokens                   : 8
                Completion Tokens               : 2
                Total Tokens                    : 10
                Azure OpenAI Roundtrip Time     : 412 ms
                Azure OpenAI Region             : Sweden Central
                Azure OpenAI Endpoint           : Sweden
                Azure OpenAI Virtual Deployment : None
                Azure OpenAI Standin Deployment : None
                Azure OpenAI API Version        : 2024-10-21

                ---
                Request Received UTC            : 2026-11-25 10:15:31+00:00
                Client                          : Team B
                Is Streaming                    : True
                Prompt Tokens                   : 14
                Completion Tokens               : 21
                Total Tokens                    : 35
                Azure OpenAI Roundtrip Time     : 1203 ms
                Azure OpenAI Region             : None
                Azure OpenAI Endpoint           : France
                Azure OpenAI Virtual Deployment : gpt-4o
                Azure OpenAI Standin Deployment : gpt-4o-ptu
                Azure OpenAI API Version        :\s

                """, bytes.toString(UTF_8));
    }

    @Test
    void aFormatOtherThanOriginalOrDefaultIsAConfigErrorNamingItsPath() {
        ConfigException error = assertThrows(ConfigException.class, () -> LogUsageToConsole.factory()
                .create(context("- name: LogUsageToConsole\n  format: [original]")));

        assertEquals(List.of("plugins[0].format must be original (the Python original's format) or default (this"
                + " proxy's, also when not set), got a list"), error.problems());
    }

    @Test
    void anUnknownSettingIsAConfigErrorNamingItsPath() {
        ConfigException error = assertThrows(ConfigException.class, () -> LogUsageToConsole.factory()
                .create(context("- name: LogUsageToConsole\n- name: LogUsageToConsole\n  colour: green")));

        assertEquals(1, error.problems().size());
        assertTrue(error.problems().getFirst().startsWith("plugins[1].colour is not a setting of LogUsageToConsole"),
                error.problems().getFirst());
    }
}
