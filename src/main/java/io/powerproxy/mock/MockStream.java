package io.powerproxy.mock;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a chat.completion or text_completion object into the SSE stream that Azure OpenAI would have sent
 * for the same answer: a prompt filter event (chat), the content in word-sized chunks, a chunk with the
 * finish reason, the usage chunk when asked for, and {@code [DONE]}.
 *
 * <p>Any other JSON object is sent as one event followed by {@code [DONE]}.
 */
final class MockStream {

    private static final String SAFE_PROMPT_FILTER = """
            [{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},\
            "self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},\
            "violence":{"filtered":false,"severity":"safe"}}}]""";

    private final ObjectMapper mapper;
    private final ObjectNode answer;
    private final boolean includeUsage;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private MockStream(ObjectMapper mapper, ObjectNode answer, boolean includeUsage) {
        this.mapper = mapper;
        this.answer = answer;
        this.includeUsage = includeUsage;
    }

    static byte[] of(ObjectMapper mapper, ObjectNode answer, boolean includeUsage) {
        return new MockStream(mapper, answer, includeUsage).build();
    }

    /**
     * Splits text into pieces of one word each, with the whitespace before it, so that the pieces joined
     * give back the text exactly, as token deltas do.
     */
    static List<String> pieces(String text) {
        List<String> pieces = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            int start = i;
            while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            while (i < text.length() && !Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            pieces.add(text.substring(start, i));
        }
        return pieces;
    }

    private byte[] build() {
        JsonNode first = answer.path("choices").path(0);
        if (first.path("message").path("content").isTextual()) {
            chat();
        } else if (first.path("text").isTextual()) {
            completions();
        } else {
            event(answer);
        }
        out.writeBytes("data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    private void chat() {
        ObjectNode promptFilter = mapper.createObjectNode();
        promptFilter.put("id", "").put("object", "").put("created", 0).put("model", "");
        promptFilter.set("prompt_filter_results", answer.has("prompt_filter_results")
                ? answer.get("prompt_filter_results") : safePromptFilter());
        promptFilter.putArray("choices");
        event(promptFilter);

        int position = 0;
        for (JsonNode choice : answer.path("choices")) {
            int index = choice.path("index").asInt(position++);
            JsonNode message = choice.path("message");
            ObjectNode roleDelta = mapper.createObjectNode();
            roleDelta.put("role", message.path("role").asText("assistant")).put("content", "");
            event(chunk("chat.completion.chunk", "chatcmpl-mock", chatChoice(index, roleDelta, null)));
            for (String piece : pieces(message.path("content").asText(""))) {
                ObjectNode delta = mapper.createObjectNode().put("content", piece);
                event(chunk("chat.completion.chunk", "chatcmpl-mock", chatChoice(index, delta, null)));
            }
            event(chunk("chat.completion.chunk", "chatcmpl-mock",
                    chatChoice(index, mapper.createObjectNode(), finishReason(choice))));
        }
        usage("chat.completion.chunk", "chatcmpl-mock");
    }

    private void completions() {
        int position = 0;
        for (JsonNode choice : answer.path("choices")) {
            int index = choice.path("index").asInt(position++);
            for (String piece : pieces(choice.path("text").asText(""))) {
                event(chunk("text_completion", "cmpl-mock", textChoice(index, piece, null)));
            }
            event(chunk("text_completion", "cmpl-mock", textChoice(index, "", finishReason(choice))));
        }
        usage("text_completion", "cmpl-mock");
    }

    private void usage(String object, String defaultId) {
        if (includeUsage && answer.path("usage").isObject()) {
            ObjectNode chunk = chunk(object, defaultId, null);
            chunk.set("usage", answer.get("usage"));
            event(chunk);
        }
    }

    private ObjectNode chatChoice(int index, ObjectNode delta, String finishReason) {
        ObjectNode choice = mapper.createObjectNode().put("index", index);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        return choice.put("finish_reason", finishReason);
    }

    private ObjectNode textChoice(int index, String text, String finishReason) {
        ObjectNode choice = mapper.createObjectNode().put("text", text).put("index", index);
        choice.putNull("logprobs");
        return choice.put("finish_reason", finishReason);
    }

    /** Returns a chunk with the answer's id, created and model, holding {@code choice} or no choice at all. */
    private ObjectNode chunk(String object, String defaultId, ObjectNode choice) {
        ObjectNode chunk = mapper.createObjectNode();
        chunk.put("id", answer.path("id").asText(defaultId));
        chunk.put("object", object);
        chunk.set("created", answer.path("created").isNumber() ? answer.get("created") : chunk.numberNode(0));
        chunk.put("model", answer.path("model").asText("mock"));
        if (answer.has("system_fingerprint")) {
            chunk.set("system_fingerprint", answer.get("system_fingerprint"));
        }
        ArrayNode choices = chunk.putArray("choices");
        if (choice != null) {
            choices.add(choice);
        }
        if (includeUsage) {
            // With include_usage, OpenAI sends "usage": null on every chunk but the last.
            chunk.putNull("usage");
        }
        return chunk;
    }

    private static String finishReason(JsonNode choice) {
        return choice.path("finish_reason").isTextual() ? choice.get("finish_reason").asText() : "stop";
    }

    private ArrayNode safePromptFilter() {
        try {
            return (ArrayNode) mapper.readTree(SAFE_PROMPT_FILTER);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void event(JsonNode data) {
        try {
            out.writeBytes("data: ".getBytes(StandardCharsets.US_ASCII));
            out.writeBytes(mapper.writeValueAsBytes(data));
            out.writeBytes("\n\n".getBytes(StandardCharsets.US_ASCII));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
