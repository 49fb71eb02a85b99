package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Objects;

/**
 * The token counts of one answer, where they come from, and the model that produced it.
 *
 * @param promptTokens prompt (input) tokens
 * @param completionTokens completion (output) tokens
 * @param totalTokens total tokens, as reported, or prompt plus completion
 * @param source whether the upstream reported the counts or the proxy estimated them
 * @param model the model the answer names, else the caller's hint; may be null
 */
record Counts(long promptTokens, long completionTokens, long totalTokens, UsageRecord.UsageSource source,
        String model) {

    Counts {
        Objects.requireNonNull(source, "source");
    }

    /**
     * Returns the counts of an upstream's {@code usage} object: {@code prompt_tokens} and
     * {@code completion_tokens}, or the Responses API's {@code input_tokens} and {@code output_tokens}; a missing
     * count is 0 (embeddings report no completion tokens) and a missing total is the sum of the two.
     *
     * @return the reported counts, or null when {@code usage} is not an object with at least one count
     */
    static Counts reported(JsonNode usage, String model) {
        if (usage == null || !usage.isObject()) {
            return null;
        }
        JsonNode prompt = usage.has("prompt_tokens") ? usage.get("prompt_tokens") : usage.get("input_tokens");
        JsonNode completion = usage.has("completion_tokens") ? usage.get("completion_tokens") : usage.get("output_tokens");
        JsonNode total = usage.get("total_tokens");
        if (!isCount(prompt) && !isCount(completion) && !isCount(total)) {
            return null;
        }
        long promptTokens = isCount(prompt) ? prompt.asLong() : 0;
        long completionTokens = isCount(completion) ? completion.asLong() : 0;
        long totalTokens = isCount(total) ? total.asLong() : promptTokens + completionTokens;
        return new Counts(promptTokens, completionTokens, totalTokens, UsageRecord.UsageSource.REPORTED, model);
    }

    /** Returns estimated counts whose total is the sum of the two. */
    static Counts estimated(long promptTokens, long completionTokens, String model) {
        return new Counts(promptTokens, completionTokens, promptTokens + completionTokens,
                UsageRecord.UsageSource.ESTIMATED, model);
    }

    private static boolean isCount(JsonNode node) {
        return node != null && node.isIntegralNumber() && node.canConvertToLong() && node.longValue() >= 0;
    }
}
