package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.knuddels.jtokkit.api.Encoding;
import java.util.List;
import java.util.Map;

/**
 * Estimates prompt and completion tokens with jtokkit when the upstream reports no usage.
 *
 * <p>Chat messages are counted as OpenAI documents it (the cookbook's {@code num_tokens_from_messages}, which
 * matches the API for gpt-4 and gpt-4o): {@value #TOKENS_PER_MESSAGE} tokens per message, plus the tokens of
 * each of its string values (role, content, name, tool_call_id, ...), plus {@value #TOKENS_PER_NAME} for a
 * {@code name}, plus {@value #REPLY_PRIMING} for the priming of the reply. The rest is an estimate:
 * <ul>
 * <li>content given as an array of parts counts each text (and refusal) part; an image part counts
 *     {@value #LOW_DETAIL_IMAGE} tokens at {@code detail: low} and {@value #HIGH_DETAIL_IMAGE} otherwise (what a
 *     1024×1024 image costs at high detail; the real cost depends on the image's size, which the proxy does
 *     not decode); audio and file parts count nothing;</li>
 * <li>an assistant message's {@code tool_calls} (and legacy {@code function_call}) count the function's name
 *     and arguments;</li>
 * <li>{@code tools} (and legacy {@code functions}) are counted as the cookbook's {@code num_tokens_for_tools}
 *     does, which matched the API for its gpt-4 and gpt-4o example: per function {@value #TOOL_START_O200K}
 *     (o200k) or {@value #TOOL_START_CL100K} (cl100k) tokens plus {@code name:description}; per property
 *     {@value #TOKENS_PER_PROPERTY} plus {@code name:type:description}, enum values {@value #TOKENS_PER_ENUM_VALUE}
 *     each plus their text; {@value #TOOLS_END} at the end. The model sees the definitions rendered in a syntax
 *     of its own, so this is an approximation, close for flat parameters; a nested schema ({@code items},
 *     {@code properties}, {@code anyOf}, ...) adds the tokens of its compact JSON, a rougher one.</li>
 * </ul>
 * Completions requests count their {@code prompt}, embeddings requests their {@code input} (and Responses API
 * requests their {@code input} and {@code instructions}): a string or an array of strings by its tokens, an
 * array of token ids by its length.
 */
final class TokenEstimator {

    /** Tokens that wrap each chat message ({@code <|start|>role<|message|>...<|end|>}). */
    static final int TOKENS_PER_MESSAGE = 3;
    /** Extra tokens for a message's {@code name}. */
    static final int TOKENS_PER_NAME = 1;
    /** Tokens that prime the reply ({@code <|start|>assistant<|message|>}). */
    static final int REPLY_PRIMING = 3;
    /** OpenAI's price of an image at low detail. */
    static final int LOW_DETAIL_IMAGE = 85;
    /** OpenAI's price of a 1024×1024 image at high detail: 85 + 4 tiles × 170. */
    static final int HIGH_DETAIL_IMAGE = 765;
    /** The cookbook's tokens at the start of each function with o200k_base ({@code func_init}). */
    static final int TOOL_START_O200K = 7;
    /** The cookbook's tokens at the start of each function with cl100k_base ({@code func_init}). */
    static final int TOOL_START_CL100K = 10;
    /** The cookbook's tokens at the start of a function's properties ({@code prop_init}). */
    static final int PROPERTIES_START = 3;
    /** The cookbook's tokens per property ({@code prop_key}). */
    static final int TOKENS_PER_PROPERTY = 3;
    /** The cookbook's tokens for a property's enum ({@code enum_init}, negative). */
    static final int ENUM_START = -3;
    /** The cookbook's tokens per enum value ({@code enum_item}). */
    static final int TOKENS_PER_ENUM_VALUE = 3;
    /** The cookbook's tokens after all functions ({@code func_end}). */
    static final int TOOLS_END = 12;

    private TokenEstimator() {
    }

    /**
     * Estimates the prompt tokens of a request body.
     *
     * @param request the request's JSON, or null for a body that is not JSON
     * @param model the model or deployment that picks the encoding; when null, the body's {@code model}
     * @return the estimate; 0 for null or for a body that is none of chat, completions, embeddings or responses
     */
    static long promptTokens(JsonNode request, String model) {
        if (request == null || !request.isObject()) {
            return 0;
        }
        Encoding encoding = TokenEncodings.forModel(model != null ? model : textOrNull(request.get("model")));
        JsonNode messages = request.get("messages");
        if (messages != null && messages.isArray()) {
            return chatTokens(encoding, messages) + toolsTokens(encoding, request.get("tools"))
                    + toolsTokens(encoding, request.get("functions"));
        }
        if (request.has("prompt")) {
            return inputTokens(encoding, request.get("prompt")) + TokenEncodings.count(encoding, textOrNull(request.get("suffix")));
        }
        if (request.has("input")) {
            return inputTokens(encoding, request.get("input")) + TokenEncodings.count(encoding, textOrNull(request.get("instructions")))
                    + toolsTokens(encoding, request.get("tools"));
        }
        return 0;
    }

    /**
     * Counts the tokens of completion text.
     *
     * @param text the text, or null
     * @param model the model or deployment that picks the encoding, or null
     * @return the number of tokens
     */
    static long completionTokens(CharSequence text, String model) {
        return text == null ? 0 : TokenEncodings.count(TokenEncodings.forModel(model), text.toString());
    }

    private static long chatTokens(Encoding encoding, JsonNode messages) {
        long tokens = 0;
        for (JsonNode message : messages) {
            tokens += messageTokens(encoding, message);
        }
        return tokens + REPLY_PRIMING;
    }

    private static long messageTokens(Encoding encoding, JsonNode message) {
        long tokens = TOKENS_PER_MESSAGE;
        for (Map.Entry<String, JsonNode> field : message.properties()) {
            JsonNode value = field.getValue();
            switch (field.getKey()) {
                case "content" -> tokens += contentTokens(encoding, value);
                case "tool_calls" -> {
                    for (JsonNode call : value) {
                        tokens += functionCallTokens(encoding, call.get("function"));
                    }
                }
                case "function_call" -> tokens += functionCallTokens(encoding, value);
                case "name" -> tokens += TokenEncodings.count(encoding, textOrNull(value)) + TOKENS_PER_NAME;
                default -> tokens += TokenEncodings.count(encoding, textOrNull(value));
            }
        }
        return tokens;
    }

    private static long contentTokens(Encoding encoding, JsonNode content) {
        if (content == null || !content.isArray()) {
            return TokenEncodings.count(encoding, textOrNull(content));
        }
        long tokens = 0;
        for (JsonNode part : content) {
            if (part.isTextual()) {
                tokens += TokenEncodings.count(encoding, part.textValue());
            } else if (part.has("image_url") || "image_url".equals(textOrNull(part.get("type")))
                    || "input_image".equals(textOrNull(part.get("type")))) {
                String detail = textOrNull(part.path("image_url").get("detail"));
                if (detail == null) {
                    detail = textOrNull(part.get("detail"));
                }
                tokens += "low".equals(detail) ? LOW_DETAIL_IMAGE : HIGH_DETAIL_IMAGE;
            } else {
                tokens += TokenEncodings.count(encoding, textOrNull(part.get("text")))
                        + TokenEncodings.count(encoding, textOrNull(part.get("refusal")));
            }
        }
        return tokens;
    }

    private static long functionCallTokens(Encoding encoding, JsonNode function) {
        if (function == null) {
            return 0;
        }
        return TokenEncodings.count(encoding, textOrNull(function.get("name")))
                + TokenEncodings.count(encoding, textOrNull(function.get("arguments")));
    }

    // The cookbook's num_tokens_for_tools, which matches the API for flat parameter schemas.
    private static long toolsTokens(Encoding encoding, JsonNode tools) {
        if (tools == null || !tools.isArray() || tools.isEmpty()) {
            return 0;
        }
        int functionStart = encoding.getName().equals("cl100k_base") ? TOOL_START_CL100K : TOOL_START_O200K;
        long tokens = TOOLS_END;
        for (JsonNode tool : tools) {
            JsonNode function = tool.has("function") ? tool.get("function") : tool;
            tokens += functionStart + TokenEncodings.count(encoding,
                    textOr(function.get("name"), "") + ":" + withoutFinalPeriod(textOr(function.get("description"), "")));
            JsonNode properties = function.path("parameters").path("properties");
            if (properties.isObject() && !properties.isEmpty()) {
                tokens += PROPERTIES_START;
                for (Map.Entry<String, JsonNode> property : properties.properties()) {
                    tokens += propertyTokens(encoding, property.getKey(), property.getValue());
                }
            }
        }
        return tokens;
    }

    private static long propertyTokens(Encoding encoding, String name, JsonNode schema) {
        JsonNode type = schema.get("type");
        long tokens = TOKENS_PER_PROPERTY + TokenEncodings.count(encoding, name + ":"
                + (type == null ? "" : type.isTextual() ? type.textValue() : type.toString()) + ":"
                + withoutFinalPeriod(textOr(schema.get("description"), "")));
        JsonNode values = schema.get("enum");
        if (values != null && values.isArray()) {
            tokens += ENUM_START;
            for (JsonNode value : values) {
                tokens += TOKENS_PER_ENUM_VALUE + TokenEncodings.count(encoding, value.isTextual() ? value.textValue() : value.toString());
            }
        }
        if (schema instanceof ObjectNode object) {
            ObjectNode nested = object.deepCopy();
            nested.remove(List.of("type", "description", "enum"));
            if (!nested.isEmpty()) {
                // Nested schemas (items, properties, anyOf, ...) are beyond the cookbook: their compact JSON stands in.
                tokens += TokenEncodings.count(encoding, nested.toString());
            }
        }
        return tokens;
    }

    private static String withoutFinalPeriod(String text) {
        return text.endsWith(".") ? text.substring(0, text.length() - 1) : text;
    }

    private static String textOr(JsonNode node, String otherwise) {
        return node != null && node.isTextual() ? node.textValue() : otherwise;
    }

    // A prompt or input: a string, token ids, or an array of those; Responses API items count as messages.
    private static long inputTokens(Encoding encoding, JsonNode input) {
        if (input == null) {
            return 0;
        }
        if (input.isTextual()) {
            return TokenEncodings.count(encoding, input.textValue());
        }
        if (input.isNumber()) {
            return 1;
        }
        if (input.isObject()) {
            return messageTokens(encoding, input);
        }
        long tokens = 0;
        for (JsonNode element : input) {
            tokens += inputTokens(encoding, element);
        }
        return tokens;
    }

    private static String textOrNull(JsonNode node) {
        return node != null && node.isTextual() ? node.textValue() : null;
    }
}
