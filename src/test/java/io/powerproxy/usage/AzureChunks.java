package io.powerproxy.usage;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The data of the SSE events Azure OpenAI sends for a streamed chat completion, and ways to split a text into deltas. */
final class AzureChunks {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern WORD = Pattern.compile("\\s*\\S+|\\s+");

    private AzureChunks() {
    }

    /** The first event: the prompt filter results, with empty choices and an empty model. */
    static String promptFilter() {
        ObjectNode chunk = JSON.createObjectNode().put("id", "").put("object", "").put("created", 0).put("model", "");
        chunk.putArray("choices");
        ObjectNode filter = chunk.putArray("prompt_filter_results").addObject().put("prompt_index", 0);
        filter.set("content_filter_results", safeFilterResults());
        return chunk.toString();
    }

    /** The event that opens the assistant's message, with an empty content. */
    static String role(String model) {
        ObjectNode chunk = chunk(model);
        ObjectNode delta = choice(chunk).putObject("delta");
        delta.put("role", "assistant").put("content", "").putNull("refusal");
        return chunk.toString();
    }

    /** A content delta as Azure sends it, with its content filter results and {@code usage: null}. */
    static String content(String model, String text) {
        ObjectNode chunk = chunk(model);
        ObjectNode choice = choice(chunk);
        choice.putObject("delta").put("content", text);
        choice.set("content_filter_results", safeFilterResults());
        return chunk.toString();
    }

    /** The first delta of a tool call: its id, type and name, with empty arguments. */
    static String toolCallStart(String model, int index, String id, String name) {
        ObjectNode chunk = chunk(model);
        ObjectNode call = choice(chunk).putObject("delta").putArray("tool_calls").addObject().put("index", index)
                .put("id", id).put("type", "function");
        call.putObject("function").put("name", name).put("arguments", "");
        return chunk.toString();
    }

    /** A later delta of a tool call: a piece of its arguments. */
    static String toolArguments(String model, int index, String piece) {
        ObjectNode chunk = chunk(model);
        choice(chunk).putObject("delta").putArray("tool_calls").addObject().put("index", index)
                .putObject("function").put("arguments", piece);
        return chunk.toString();
    }

    /** The last choice event: an empty delta and the finish reason. */
    static String finish(String model, String reason) {
        ObjectNode chunk = chunk(model);
        ObjectNode choice = choice(chunk);
        choice.putObject("delta");
        choice.put("finish_reason", reason);
        return chunk.toString();
    }

    /** An asynchronous content filter event: a choice with offsets and results, and no delta. */
    static String contentFilterOffsets() {
        ObjectNode chunk = JSON.createObjectNode().put("id", "").put("object", "").put("created", 0).put("model", "");
        ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0).putNull("finish_reason");
        choice.putObject("content_filter_offsets").put("check_offset", 35).put("start_offset", 35).put("end_offset", 111);
        choice.set("content_filter_results", safeFilterResults());
        return chunk.toString();
    }

    /** The usage-only chunk that {@code stream_options.include_usage} adds. */
    static String usage(String model, long prompt, long completion, long total) {
        ObjectNode chunk = JSON.createObjectNode().put("id", "chatcmpl-AzureTest").put("object", "chat.completion.chunk")
                .put("created", 1_727_000_000).put("model", model).put("system_fingerprint", "fp_5f20662549");
        chunk.putArray("choices");
        ObjectNode usage = chunk.putObject("usage").put("prompt_tokens", prompt).put("completion_tokens", completion)
                .put("total_tokens", total);
        usage.putObject("prompt_tokens_details").put("cached_tokens", 0);
        usage.putObject("completion_tokens_details").put("reasoning_tokens", 0);
        return chunk.toString();
    }

    /** A text cut into pieces of one to four words, each with the whitespace before it, as Azure streams it. */
    static List<String> wordPieces(String text, Random random) {
        List<String> words = new ArrayList<>();
        Matcher matcher = WORD.matcher(text);
        while (matcher.find()) {
            words.add(matcher.group());
        }
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < words.size(); ) {
            int take = Math.min(words.size() - i, 1 + random.nextInt(4));
            pieces.add(String.join("", words.subList(i, i + take)));
            i += take;
        }
        return pieces;
    }

    /** A text cut at random character boundaries into pieces of 1 to 12 characters, never inside a surrogate pair. */
    static List<String> characterPieces(String text, Random random) {
        List<String> pieces = new ArrayList<>();
        int start = 0;
        while (start < text.length()) {
            int end = text.offsetByCodePoints(start, Math.min(1 + random.nextInt(12), text.codePointCount(start, text.length())));
            pieces.add(text.substring(start, end));
            start = end;
        }
        return pieces;
    }

    private static ObjectNode chunk(String model) {
        ObjectNode chunk = JSON.createObjectNode().put("id", "chatcmpl-AzureTest").put("object", "chat.completion.chunk")
                .put("created", 1_727_000_000).put("model", model).put("system_fingerprint", "fp_5f20662549");
        chunk.putNull("usage");
        return chunk;
    }

    private static ObjectNode choice(ObjectNode chunk) {
        ArrayNode choices = chunk.putArray("choices");
        ObjectNode choice = choices.addObject().put("index", 0).putNull("finish_reason").putNull("logprobs");
        return choice;
    }

    private static ObjectNode safeFilterResults() {
        ObjectNode results = JSON.createObjectNode();
        for (String category : List.of("hate", "self_harm", "sexual", "violence")) {
            results.putObject(category).put("filtered", false).put("severity", "safe");
        }
        return results;
    }
}
