package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.api.Encoding;
import org.junit.jupiter.api.Test;

class TokenEstimatorTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Encoding O200K = TokenEncodings.forModel("gpt-4o");
    private static final Encoding CL100K = TokenEncodings.forModel("gpt-4");

    // The OpenAI cookbook's example conversation ("How to count tokens with tiktoken"), with the prompt tokens the
    // API reported for it: 129 for gpt-3.5-turbo and gpt-4, 124 for gpt-4o and gpt-4o-mini.
    private static final String COOKBOOK_MESSAGES = """
            {"messages": [
              {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
              {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
              {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
              {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
              {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
              {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
            ]}""";

    // The cookbook's tools example, with the prompt tokens the API reported: 105 for gpt-4, 101 for gpt-4o.
    private static final String COOKBOOK_TOOLS = """
            {"messages": [
              {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
              {"role": "user", "content": "What's the weather like in San Francisco?"}
            ],
            "tools": [{"type": "function", "function": {
              "name": "get_current_weather",
              "description": "Get the current weather in a given location",
              "parameters": {"type": "object", "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
              }, "required": ["location"]}}}]}""";

    @Test
    void chatMessagesCountWhatTheApiReportedForTheCookbookExample() throws Exception {
        JsonNode request = JSON.readTree(COOKBOOK_MESSAGES);

        assertEquals(129, TokenEstimator.promptTokens(request, "gpt-4-0613"));
        assertEquals(129, TokenEstimator.promptTokens(request, "gpt-35-turbo"));
        assertEquals(124, TokenEstimator.promptTokens(request, "gpt-4o-2024-08-06"));
        assertEquals(124, TokenEstimator.promptTokens(request, "gpt-4o-mini"));
    }

    @Test
    void toolDefinitionsCountWhatTheApiReportedForTheCookbookExample() throws Exception {
        JsonNode request = JSON.readTree(COOKBOOK_TOOLS);

        assertEquals(105, TokenEstimator.promptTokens(request, "gpt-4"));
        assertEquals(101, TokenEstimator.promptTokens(request, "gpt-4o"));
    }

    @Test
    void legacyFunctionsCountLikeTools() throws Exception {
        JsonNode tools = JSON.readTree(COOKBOOK_TOOLS);
        JsonNode functions = JSON.readTree(COOKBOOK_TOOLS.replace("\"tools\": [{\"type\": \"function\", \"function\": {", "\"functions\": [{")
                .replace("\"required\": [\"location\"]}}}]}", "\"required\": [\"location\"]}}]}"));

        assertEquals(TokenEstimator.promptTokens(tools, "gpt-4o"), TokenEstimator.promptTokens(functions, "gpt-4o"));
    }

    @Test
    void nestedParameterSchemasAddTheirJson() throws Exception {
        JsonNode flat = JSON.readTree("""
                {"messages": [], "tools": [{"type": "function", "function": {"name": "tag", "description": "Tag a photo.",
                 "parameters": {"type": "object", "properties": {"tags": {"type": "array", "description": "The tags"}}}}}]}""");
        JsonNode nested = JSON.readTree("""
                {"messages": [], "tools": [{"type": "function", "function": {"name": "tag", "description": "Tag a photo.",
                 "parameters": {"type": "object", "properties": {"tags": {"type": "array", "description": "The tags",
                   "items": {"type": "string", "maxLength": 30}}}}}}]}""");

        assertEquals(TokenEstimator.promptTokens(flat, "gpt-4o") + O200K.countTokensOrdinary("{\"items\":{\"type\":\"string\",\"maxLength\":30}}"),
                TokenEstimator.promptTokens(nested, "gpt-4o"));
    }

    @Test
    void contentPartsCountTheirTextAndAFixedEstimatePerImage() throws Exception {
        JsonNode request = JSON.readTree("""
                {"messages": [{"role": "user", "content": [
                  {"type": "text", "text": "What is in these pictures?"},
                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "detail": "low"}},
                  {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                  {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}}
                ]}]}""");

        long expected = 3 + O200K.countTokensOrdinary("user") + O200K.countTokensOrdinary("What is in these pictures?")
                + TokenEstimator.LOW_DETAIL_IMAGE + TokenEstimator.HIGH_DETAIL_IMAGE + 3;
        assertEquals(expected, TokenEstimator.promptTokens(request, "gpt-4o"));
    }

    @Test
    void assistantToolCallsCountTheirNamesAndArguments() throws Exception {
        JsonNode request = JSON.readTree("""
                {"messages": [
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Oslo\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "-3 °C, snow"}
                ]}""");

        long expected = 3 + CL100K.countTokensOrdinary("assistant") + CL100K.countTokensOrdinary("get_weather")
                + CL100K.countTokensOrdinary("{\"city\":\"Oslo\"}")
                + 3 + CL100K.countTokensOrdinary("tool") + CL100K.countTokensOrdinary("call_1")
                + CL100K.countTokensOrdinary("-3 °C, snow") + 3;
        assertEquals(expected, TokenEstimator.promptTokens(request, "gpt-4"));
    }

    @Test
    void specialTokenStringsInUserTextAreCountedNotThrown() throws Exception {
        JsonNode request = JSON.readTree("{\"messages\":[{\"role\":\"user\",\"content\":\"Ignore <|endoftext|> and <|im_start|>system\"}]}");

        long expected = 3 + O200K.countTokensOrdinary("user") + O200K.countTokensOrdinary("Ignore <|endoftext|> and <|im_start|>system") + 3;
        assertEquals(expected, TokenEstimator.promptTokens(request, null));
    }

    @Test
    void completionsPromptsCountStringsArraysAndTokenIds() throws Exception {
        assertEquals(CL100K.countTokensOrdinary("Once upon a time"),
                TokenEstimator.promptTokens(JSON.readTree("{\"prompt\":\"Once upon a time\"}"), "gpt-35-turbo-instruct"));
        assertEquals(CL100K.countTokensOrdinary("one two") + CL100K.countTokensOrdinary("three"),
                TokenEstimator.promptTokens(JSON.readTree("{\"prompt\":[\"one two\",\"three\"]}"), "gpt-35-turbo-instruct"));
        assertEquals(5, TokenEstimator.promptTokens(JSON.readTree("{\"prompt\":[[1,2,3],[4,5]]}"), "davinci-002"));
    }

    @Test
    void embeddingsInputsCountStringsArraysAndTokenIds() throws Exception {
        assertEquals(CL100K.countTokensOrdinary("The food was delicious and the waiter..."),
                TokenEstimator.promptTokens(JSON.readTree("{\"input\":\"The food was delicious and the waiter...\"}"),
                        "text-embedding-ada-002"));
        assertEquals(CL100K.countTokensOrdinary("first") + CL100K.countTokensOrdinary("second document"),
                TokenEstimator.promptTokens(JSON.readTree("{\"input\":[\"first\",\"second document\"]}"), "text-embedding-3-small"));
        assertEquals(4, TokenEstimator.promptTokens(JSON.readTree("{\"input\":[1212,318,257,1332]}"), "text-embedding-3-small"));
        assertEquals(3, TokenEstimator.promptTokens(JSON.readTree("{\"input\":[[1212,318],[257]]}"), "text-embedding-3-small"));
    }

    @Test
    void theRequestsOwnModelPicksTheEncodingWhenNoneIsGiven() throws Exception {
        String text = "Tokenizers differ: o200k_base and cl100k_base split this sentence differently, naturally.";
        JsonNode request = JSON.readTree("{\"model\":\"gpt-4-turbo\",\"input\":" + JSON.writeValueAsString(text) + "}");

        assertEquals(CL100K.countTokensOrdinary(text), TokenEstimator.promptTokens(request, null));
    }

    @Test
    void nullAndUnknownRequestsCountZero() throws Exception {
        assertEquals(0, TokenEstimator.promptTokens(null, "gpt-4o"));
        assertEquals(0, TokenEstimator.promptTokens(JSON.readTree("[1,2]"), "gpt-4o"));
        assertEquals(0, TokenEstimator.promptTokens(JSON.readTree("{\"file\":\"abc\",\"purpose\":\"fine-tune\"}"), "gpt-4o"));
        assertTrue(TokenEstimator.promptTokens(JSON.readTree("{\"messages\":[\"odd\",42,{\"role\":7}]}"), "gpt-4o") >= 0);
    }

    @Test
    void completionTextIsCountedWithTheModelsEncoding() {
        String text = "naïve café — 東京 🚀 <|endoftext|>";

        assertEquals(O200K.countTokensOrdinary(text), TokenEstimator.completionTokens(new StringBuilder(text), "gpt-4o"));
        assertEquals(CL100K.countTokensOrdinary(text), TokenEstimator.completionTokens(text, "gpt-4"));
        assertEquals(0, TokenEstimator.completionTokens(null, "gpt-4"));
    }
}
