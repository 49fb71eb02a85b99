package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * What a request will likely cost in tokens before it is sent: its prompt estimated with jtokkit (as
 * {@link TokenEstimator} counts it when the upstream reports no usage), and the most completion tokens it may use, as
 * the client bounded them with {@code max_tokens}, {@code max_completion_tokens} (chat, completions) or
 * {@code max_output_tokens} (Responses API).
 *
 * @param promptTokens the prompt's estimated tokens; 0 for a body that is not chat, completions, embeddings or
 *     responses
 * @param completionBound the client's bound on completion tokens, or -1 when it set none
 */
public record TokenDemand(long promptTokens, long completionBound) {

    /** The fields that bound completion tokens; the first one present wins. */
    private static final List<String> BOUND_FIELDS = List.of("max_completion_tokens", "max_tokens", "max_output_tokens");

    /** Nothing to count: a body that is not JSON, or no body. */
    public static final TokenDemand NONE = new TokenDemand(0, -1);

    /**
     * Estimates a request body's demand.
     *
     * @param requestJson the body as a JSON object, or null
     * @param model the deployment or model that picks the encoding; when null, the body's {@code model}
     */
    public static TokenDemand of(JsonNode requestJson, String model) {
        if (requestJson == null || !requestJson.isObject()) {
            return NONE;
        }
        return new TokenDemand(TokenEstimator.promptTokens(requestJson, model), completionBound(requestJson));
    }

    /** Whether the client bounded its completion tokens. */
    public boolean hasCompletionBound() {
        return completionBound >= 0;
    }

    /** The prompt plus the completion bound, or plus {@code defaultCompletion} when the client set no bound. */
    public long total(long defaultCompletion) {
        return promptTokens + (hasCompletionBound() ? completionBound : defaultCompletion);
    }

    private static long completionBound(JsonNode requestJson) {
        for (String field : BOUND_FIELDS) {
            JsonNode value = requestJson.get(field);
            if (value != null && value.canConvertToLong() && value.isIntegralNumber() && value.asLong() >= 0) {
                return value.asLong();
            }
        }
        return -1;
    }
}
