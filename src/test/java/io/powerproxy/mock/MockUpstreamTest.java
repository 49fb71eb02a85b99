package io.powerproxy.mock;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.config.MockResponse;
import io.powerproxy.streaming.SseCopier;
import io.powerproxy.streaming.SseEvent;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MockUpstreamTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String CONTENT = "I'm a mock response and not a real answer from Azure OpenAI.";

    /** The mock_response of the original's example config, pretty-printed as a user would write it. */
    private static final String CHAT = """
            {
              "id": "chatcmpl-87lITNUXLFIBHyDu3jFTtgOibcAxz",
              "object": "chat.completion",
              "created": 1696860797,
              "model": "gpt-35-turbo",
              "choices": [
                {
                  "index": 0,
                  "finish_reason": "stop",
                  "message": {
                    "role": "assistant",
                    "content": "I'm a mock response and not a real answer from Azure OpenAI."
                  }
                }
              ],
              "usage": {
                "completion_tokens": 16,
                "prompt_tokens": 61,
                "total_tokens": 77
              }
            }
            """;

    private static final String COMPLETION = """
            {"id":"cmpl-1","object":"text_completion","created":5,"model":"gpt-35-turbo-instruct",
             "choices":[{"index":0,"text":"  Once upon\\na time ","finish_reason":"length","logprobs":null}],
             "usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}
            """;

    @Test
    void aNonStreamingAnswerIsTheConfiguredJsonUnchanged() {
        MockAnswer answer = mock(CHAT).answer(false, true);

        assertEquals(200, answer.status());
        assertEquals("application/json", answer.contentType());
        assertArrayEquals(CHAT.getBytes(UTF_8), answer.body());
    }

    @Test
    void streamedContentPiecesJoinToExactlyTheConfiguredContent() throws IOException {
        MockAnswer answer = mock(CHAT).answer(true, false);
        List<JsonNode> chunks = chunks(answer.body());

        assertEquals(200, answer.status());
        assertEquals("text/event-stream; charset=utf-8", answer.contentType());
        StringBuilder content = new StringBuilder();
        for (JsonNode chunk : chunks) {
            content.append(chunk.path("choices").path(0).path("delta").path("content").asText(""));
        }
        assertEquals(CONTENT, content.toString());
        assertTrue(chunks.size() > 10, "word-sized pieces, got " + chunks.size() + " chunks");
    }

    @Test
    void aChatStreamLooksLikeAzures() throws IOException {
        List<JsonNode> chunks = chunks(mock(CHAT).answer(true, false).body());

        JsonNode promptFilter = chunks.get(0);
        assertEquals(0, promptFilter.get("choices").size());
        assertEquals(0, promptFilter.path("prompt_filter_results").path(0).path("prompt_index").asInt(-1));
        assertEquals("assistant", chunks.get(1).path("choices").path(0).path("delta").path("role").asText());
        for (JsonNode chunk : chunks.subList(1, chunks.size())) {
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            assertEquals("chatcmpl-87lITNUXLFIBHyDu3jFTtgOibcAxz", chunk.get("id").asText());
            assertEquals(1696860797, chunk.get("created").asLong());
            assertEquals("gpt-35-turbo", chunk.get("model").asText());
        }
        JsonNode last = chunks.get(chunks.size() - 1).path("choices").path(0);
        assertEquals("stop", last.path("finish_reason").asText());
        assertEquals(0, last.path("delta").size());
    }

    @Test
    void theUsageChunkIsSentOnlyWhenAskedFor() throws IOException {
        MockUpstream mock = mock(CHAT);

        List<JsonNode> without = chunks(mock.answer(true, false).body());
        List<JsonNode> with = chunks(mock.answer(true, true).body());

        assertFalse(without.stream().anyMatch(chunk -> chunk.has("usage")));
        JsonNode usageChunk = with.get(with.size() - 1);
        assertEquals(0, usageChunk.get("choices").size());
        assertEquals(JSON.readTree("{\"completion_tokens\":16,\"prompt_tokens\":61,\"total_tokens\":77}"),
                usageChunk.get("usage"));
        assertEquals(1, with.stream().filter(chunk -> chunk.path("usage").isObject()).count());
        assertEquals(without.size() + 1, with.size());
    }

    @Test
    void noUsageChunkIsMadeUpWhenTheJsonHasNoUsage() throws IOException {
        String withoutUsage = CHAT.substring(0, CHAT.indexOf(",\n  \"usage\"")) + "\n}";

        List<JsonNode> chunks = chunks(mock(withoutUsage).answer(true, true).body());

        assertFalse(chunks.stream().anyMatch(chunk -> chunk.path("usage").isObject()));
    }

    @Test
    void everyStreamEndsWithDone() throws IOException {
        for (String json : List.of(CHAT, COMPLETION, "{\"data\":[{\"embedding\":[0.1,0.2]}]}")) {
            List<SseEvent> events = events(mock(json).answer(true, true).body());

            assertTrue(events.get(events.size() - 1).isDone(), json);
            assertEquals(1, events.stream().filter(SseEvent::isDone).count());
        }
    }

    @Test
    void aCompletionsAnswerIsStreamedAsTextCompletionChunks() throws IOException {
        List<JsonNode> chunks = chunks(mock(COMPLETION).answer(true, true).body());

        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : chunks) {
            assertEquals("text_completion", chunk.get("object").asText());
            text.append(chunk.path("choices").path(0).path("text").asText(""));
        }
        assertEquals("  Once upon\na time ", text.toString());
        assertEquals("length", chunks.get(chunks.size() - 2).path("choices").path(0).path("finish_reason").asText());
        assertEquals(8, chunks.get(chunks.size() - 1).path("usage").path("total_tokens").asInt());
    }

    @Test
    void anyOtherJsonObjectIsStreamedAsOneEvent() throws IOException {
        String embeddings = "{\n  \"object\": \"list\",\n  \"data\": []\n}";

        List<SseEvent> events = events(mock(embeddings).answer(true, false).body());

        assertEquals(2, events.size());
        assertEquals(JSON.readTree(embeddings), JSON.readTree(events.get(0).data()));
    }

    @Test
    void piecesKeepEveryCharacterOfTheText() {
        assertEquals(List.of("Hello,", " world", "  \n\tagain", " 😀", " "), MockStream.pieces("Hello, world  \n\tagain 😀 "));
        assertEquals(List.of(), MockStream.pieces(""));
    }

    @Test
    void invalidJsonIsRejected() {
        IllegalArgumentException notJson = assertThrows(IllegalArgumentException.class, () -> mock("{\"id\": "));
        IllegalArgumentException notObject = assertThrows(IllegalArgumentException.class, () -> mock("[1, 2]"));
        IllegalArgumentException trailing = assertThrows(IllegalArgumentException.class, () -> mock("{} {}"));
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> mock("  "));

        assertTrue(notJson.getMessage().startsWith("aoai.mock_response.json is not valid JSON"), notJson.getMessage());
        assertEquals("aoai.mock_response.json must be a JSON object, found array", notObject.getMessage());
        assertTrue(trailing.getMessage().startsWith("aoai.mock_response.json is not valid JSON"), trailing.getMessage());
        assertEquals("aoai.mock_response.json must be a JSON object, found nothing", empty.getMessage());
    }

    @Test
    void aNegativeWaitIsRejectedAndTheWaitIsLeftToTheCaller() {
        assertThrows(IllegalArgumentException.class,
                () -> MockUpstream.create(new MockResponse(Duration.ofMillis(-1), CHAT)));

        assertEquals(Duration.ofSeconds(1), MockUpstream.create(new MockResponse(Duration.ofSeconds(1), CHAT)).waitBeforeReturn());
    }

    @Test
    void eachAnswerHasItsOwnBody() {
        MockUpstream mock = mock(CHAT);
        MockAnswer first = mock.answer(true, false);
        first.body()[0] = 'X';

        assertEquals('d', mock.answer(true, false).body()[0]);
    }

    @Test
    void theProxyAnswersFromTheMockOnlyAfterMsToWaitBeforeReturn() {
        String yaml = Configs.withAoai("""
                mock_response:
                  ms_to_wait_before_return: 300
                  json: {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                """);
        try (ProxyHarness proxy = ProxyHarness.start(yaml)) {
            for (String body : List.of("{\"messages\":[]}", "{\"messages\":[],\"stream\":true}")) {
                long sent = System.nanoTime();
                HttpResponse<String> response = proxy.postJson(
                        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", Configs.TEAM_A_KEY, body);
                long tookMs = (System.nanoTime() - sent) / 1_000_000;

                assertEquals(200, response.statusCode(), response.body());
                // Only a lower bound: a busy machine may answer later, never sooner.
                assertTrue(tookMs >= 300, body + " was answered after " + tookMs + " ms, sooner than the 300 ms wait");
            }
        }
    }

    private static MockUpstream mock(String json) {
        return MockUpstream.create(new MockResponse(Duration.ZERO, json));
    }

    /** Parses a mock stream with the proxy's own SSE copier, checking that it forwards it unchanged. */
    private static List<SseEvent> events(byte[] stream) throws IOException {
        List<SseEvent> events = new ArrayList<>();
        ByteArrayOutputStream forwarded = new ByteArrayOutputStream();
        SseCopier.copy(new ByteArrayInputStream(stream), forwarded, event -> events.add(SseEvent.of(event.raw())));
        assertArrayEquals(stream, forwarded.toByteArray());
        for (SseEvent event : events) {
            String raw = new String(event.raw(), UTF_8);
            assertTrue(raw.startsWith("data: ") && raw.endsWith("\n\n") && raw.indexOf('\n') == raw.length() - 2, raw);
        }
        return events;
    }

    /** Returns the JSON chunks of a mock stream, without the final [DONE]. */
    private static List<JsonNode> chunks(byte[] stream) throws IOException {
        List<JsonNode> chunks = new ArrayList<>();
        for (SseEvent event : events(stream)) {
            if (!event.isDone()) {
                chunks.add(JSON.readTree(event.data()));
            }
        }
        return chunks;
    }
}
