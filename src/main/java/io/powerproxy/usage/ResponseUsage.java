package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.api.Encoding;
import io.powerproxy.json.Json;
import io.powerproxy.usage.UsageRecord.Operation;

/**
 * Counts the tokens of a buffered (non-streaming) answer: its {@code usage} object, else an estimate.
 *
 * <p>Reported: the body's {@code usage} ({@code prompt_tokens}, {@code completion_tokens},
 * {@code total_tokens}, or the Responses API's {@code input_tokens} and {@code output_tokens}); embeddings
 * report no completion tokens, which count 0, and a missing total is the sum. Estimated, when a chat or
 * completions answer has no usage: the prompt from the request with {@link TokenEstimator}, the completion
 * from each choice's message content, refusal, tool calls and function call, or its {@code text}, each field
 * counted on its own as {@link StreamUsage} does; likewise the prompt of an embeddings answer without usage.
 * Anything else (images, audio, files, error answers, bodies that are not JSON) counts zero, as estimated.
 * Nothing here throws on bad input.
 */
final class ResponseUsage {

    private static final ObjectMapper JSON = Json.MAPPER;

    private ResponseUsage() {
    }

    /**
     * Counts a buffered answer.
     *
     * @param body the answer's body as received, or null
     * @param request the request's JSON, or null
     * @param operation the kind of call
     * @param modelHint the model to report, and to pick the encoding, when the body names none; may be null
     * @return the counts, with the model the body names, else {@code modelHint}
     */
    static Counts of(byte[] body, JsonNode request, Operation operation, String modelHint) {
        return of(parseObject(body), request, operation, modelHint);
    }

    /** Counts an answer already parsed (or, for one too large to hold, its top-level fields); null counts zero. */
    static Counts of(JsonNode answer, JsonNode request, Operation operation, String modelHint) {
        if (answer == null) {
            return none(modelHint);
        }
        String model = text(answer.get("model"));
        if (model == null || model.isBlank()) {
            model = modelHint;
        }
        Counts reported = Counts.reported(answer.get("usage"), model);
        if (reported != null) {
            return reported;
        }
        if (answer.has("error")) {
            return none(model);
        }
        JsonNode choices = answer.get("choices");
        if ((operation == Operation.CHAT || operation == Operation.COMPLETIONS) && choices != null && choices.isArray()) {
            return Counts.estimated(TokenEstimator.promptTokens(request, model), completionTokens(choices, model), model);
        }
        if (operation == Operation.EMBEDDINGS && answer.get("data") != null) {
            return Counts.estimated(TokenEstimator.promptTokens(request, model), 0, model);
        }
        return none(model);
    }

    /**
     * Returns zero counts, as estimated, for a request without a readable answer.
     *
     * @param modelHint the model to report; may be null
     * @return zero counts
     */
    static Counts none(String modelHint) {
        return Counts.estimated(0, 0, modelHint);
    }

    private static long completionTokens(JsonNode choices, String model) {
        Encoding encoding = TokenEncodings.forModel(model);
        long tokens = 0;
        for (JsonNode choice : choices) {
            JsonNode message = choice.path("message");
            tokens += TokenEncodings.count(encoding, text(message.get("content")))
                    + TokenEncodings.count(encoding, text(message.get("refusal")))
                    + functionTokens(encoding, message.get("function_call"))
                    + TokenEncodings.count(encoding, text(choice.get("text")));
            for (JsonNode call : message.path("tool_calls")) {
                tokens += functionTokens(encoding, call.get("function"));
            }
        }
        return tokens;
    }

    private static long functionTokens(Encoding encoding, JsonNode function) {
        if (function == null) {
            return 0;
        }
        return TokenEncodings.count(encoding, text(function.get("name")))
                + TokenEncodings.count(encoding, text(function.get("arguments")));
    }

    private static JsonNode parseObject(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try {
            JsonNode node = JSON.readTree(body);
            return node != null && node.isObject() ? node : null;
        } catch (Exception e) {
            // Not JSON (an image, audio, a truncated body): nothing to count.
            return null;
        }
    }

    private static String text(JsonNode node) {
        return node != null && node.isTextual() ? node.textValue() : null;
    }
}
