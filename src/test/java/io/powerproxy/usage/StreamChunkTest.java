package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The one-pass reader of streamed chunks finds the same texts wherever their fields come in the object. */
class StreamChunkTest {

    @Test
    void anIndexThatFollowsTheDeltaStillNamesTheChoice() {
        StreamChunk chunk = StreamChunk.parse("""
                {"choices":[{"content_filter_results":{},"delta":{"content":"Hi"},"finish_reason":null,"index":1}],
                 "model":"gpt-4o-2024-08-06","usage":null}""");

        assertEquals(List.of(new StreamChunk.Text(1, "content", -1, "Hi")), chunk.texts());
        assertEquals("gpt-4o-2024-08-06", chunk.model());
        assertTrue(chunk.hasChoices());
        assertNull(chunk.usage());
    }

    @Test
    void toolCallsKeepTheirOwnIndexAndTheChoicesIndex() {
        StreamChunk chunk = StreamChunk.parse("""
                {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\\"city\\"","name":"weather"},"index":2}]},
                 "index":3}]}""");

        assertEquals(List.of(new StreamChunk.Text(3, "tool_arguments", 2, "{\"city\""),
                new StreamChunk.Text(3, "tool_name", 2, "weather")), chunk.texts());
    }

    @Test
    void theUsageOnlyChunkHasUsageAndNoChoices() {
        StreamChunk chunk = StreamChunk.parse("""
                {"choices":[],"usage":{"completion_tokens":5,"prompt_tokens":7,"total_tokens":12}}""");

        assertFalse(chunk.hasChoices());
        assertEquals(12, chunk.usage().get("total_tokens").asInt());
        assertEquals(List.of(), chunk.texts());
    }

    @Test
    void dataThatBreaksOffOrIsNoObjectGivesNothingAtAll() {
        assertNull(StreamChunk.parse("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}},"));
        assertNull(StreamChunk.parse("[DONE]"));
        assertNull(StreamChunk.parse("  [1, 2]"));
        assertNull(StreamChunk.parse(""));
        assertNull(StreamChunk.parse(null));
    }

    @Test
    void valuesOfUnexpectedTypesAreSkippedNotMistaken() {
        StreamChunk chunk = StreamChunk.parse("""
                {"model":{"name":"x"},"choices":[7,{"delta":"text","text":["a"],"index":"1"},{"text":"ok"}]}""");

        assertNull(chunk.model());
        assertEquals(List.of(new StreamChunk.Text(2, "text", -1, "ok")), chunk.texts());
    }
}
