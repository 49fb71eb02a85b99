package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * Streams the conversations in {@code src/test/resources/usage/} through {@link StreamUsage} without a usage
 * chunk and compares the estimates with counts computed here, independently, on the whole texts.
 */
class EstimationAccuracyTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> FIXTURES = List.of(
            "01-support-refund", "02-python-code-review", "03-weather-tool-call", "04-german-travel",
            "05-japanese-recipe", "06-emoji-marketing", "07-sql-analytics-multiturn", "08-json-extraction",
            "09-chinese-summary", "10-parallel-travel-tools", "11-french-email-names", "12-java-stacktrace");
    private static final Map<String, EncodingType> MODELS = Map.of(
            "gpt-4o-2024-08-06", EncodingType.O200K_BASE, "gpt-4-0613", EncodingType.CL100K_BASE);
    private static final double TOLERANCE = 0.02;

    @Test
    void streamedEstimatesAreWithinTwoPercentOfTheTruthForEveryFixtureEncodingAndSplitting() throws IOException {
        StringBuilder report = new StringBuilder();
        for (Map.Entry<String, EncodingType> model : MODELS.entrySet()) {
            Encoding encoding = Encodings.newLazyEncodingRegistry().getEncoding(model.getValue());
            List<Double> completionErrors = new ArrayList<>();
            List<Double> promptErrors = new ArrayList<>();
            for (String name : FIXTURES) {
                JsonNode fixture = fixture(name);
                JsonNode request = fixture.get("request");
                long completionTruth = completionTruth(fixture.get("completion"), encoding);
                long promptTruth = promptTruth(request, encoding);
                Random random = new Random(name.hashCode());
                for (BiFunction<String, Random, List<String>> splitter : List.<BiFunction<String, Random, List<String>>>of(
                        AzureChunks::wordPieces, AzureChunks::characterPieces)) {
                    StreamUsage usage = new StreamUsage();
                    for (String data : stream(model.getKey(), fixture.get("completion"), splitter, random)) {
                        usage.onData(data);
                    }
                    Counts counts = usage.finish(request, null);

                    assertEquals(UsageRecord.UsageSource.ESTIMATED, counts.source(), name);
                    assertEquals(model.getKey(), counts.model(), name);
                    double completionError = relativeError(counts.completionTokens(), completionTruth);
                    double promptError = relativeError(counts.promptTokens(), promptTruth);
                    assertTrue(completionError <= TOLERANCE, name + " " + model.getKey() + ": completion "
                            + counts.completionTokens() + " vs " + completionTruth);
                    assertTrue(promptError <= TOLERANCE, name + " " + model.getKey() + ": prompt "
                            + counts.promptTokens() + " vs " + promptTruth);
                    completionErrors.add(completionError);
                    promptErrors.add(promptError);
                }
            }
            report.append(String.format("%s: completion max %.4f%% mean %.4f%%, prompt max %.4f%% mean %.4f%%%n",
                    model.getValue(), 100 * max(completionErrors), 100 * mean(completionErrors),
                    100 * max(promptErrors), 100 * mean(promptErrors)));
        }
        System.out.print(report);
    }

    @Test
    void thereAreAtLeastTenFixturesWithToolsAndNonEnglishText() throws IOException {
        int withTools = 0;
        for (String name : FIXTURES) {
            if (fixture(name).get("request").has("tools")) {
                withTools++;
            }
        }
        assertTrue(FIXTURES.size() >= 10);
        assertTrue(withTools >= 3);
    }

    // The data of the events Azure sends for the fixture's completion, text and tool calls split by the splitter.
    private static List<String> stream(String model, JsonNode completion, BiFunction<String, Random, List<String>> splitter,
            Random random) {
        List<String> events = new ArrayList<>();
        events.add(AzureChunks.promptFilter());
        events.add(AzureChunks.role(model));
        if (completion.has("content")) {
            for (String piece : splitter.apply(completion.get("content").textValue(), random)) {
                events.add(AzureChunks.content(model, piece));
            }
        }
        int index = 0;
        for (JsonNode call : completion.path("tool_calls")) {
            events.add(AzureChunks.toolCallStart(model, index, "call_" + index, call.get("name").textValue()));
            for (String piece : splitter.apply(call.get("arguments").textValue(), random)) {
                events.add(AzureChunks.toolArguments(model, index, piece));
            }
            index++;
        }
        events.add(AzureChunks.finish(model, completion.has("tool_calls") ? "tool_calls" : "stop"));
        events.add(AzureChunks.contentFilterOffsets());
        events.add("[DONE]");
        return events;
    }

    private static long completionTruth(JsonNode completion, Encoding encoding) {
        long tokens = 0;
        if (completion.has("content")) {
            tokens += encoding.countTokensOrdinary(completion.get("content").textValue());
        }
        for (JsonNode call : completion.path("tool_calls")) {
            tokens += encoding.countTokensOrdinary(call.get("name").textValue());
            tokens += encoding.countTokensOrdinary(call.get("arguments").textValue());
        }
        return tokens;
    }

    // OpenAI cookbook, "How to count tokens with tiktoken": num_tokens_from_messages and num_tokens_for_tools.
    private static long promptTruth(JsonNode request, Encoding encoding) {
        long tokens = 0;
        for (JsonNode message : request.get("messages")) {
            tokens += 3;
            for (Map.Entry<String, JsonNode> field : message.properties()) {
                if (field.getValue().isTextual()) {
                    tokens += encoding.countTokensOrdinary(field.getValue().textValue());
                    if (field.getKey().equals("name")) {
                        tokens += 1;
                    }
                } else if (field.getKey().equals("tool_calls")) {
                    for (JsonNode call : field.getValue()) {
                        tokens += encoding.countTokensOrdinary(call.get("function").get("name").textValue());
                        tokens += encoding.countTokensOrdinary(call.get("function").get("arguments").textValue());
                    }
                }
            }
        }
        tokens += 3;
        JsonNode tools = request.path("tools");
        if (!tools.isEmpty()) {
            int functionInit = encoding.getName().equals("o200k_base") ? 7 : 10;
            for (JsonNode tool : tools) {
                JsonNode function = tool.get("function");
                tokens += functionInit;
                tokens += encoding.countTokensOrdinary(function.get("name").textValue() + ":"
                        + stripPeriod(function.get("description").textValue()));
                JsonNode properties = function.get("parameters").get("properties");
                if (!properties.isEmpty()) {
                    tokens += 3;
                    for (Map.Entry<String, JsonNode> property : properties.properties()) {
                        tokens += 3;
                        JsonNode schema = property.getValue();
                        if (schema.has("enum")) {
                            tokens += -3;
                            for (JsonNode item : schema.get("enum")) {
                                tokens += 3 + encoding.countTokensOrdinary(item.textValue());
                            }
                        }
                        tokens += encoding.countTokensOrdinary(property.getKey() + ":" + schema.get("type").textValue()
                                + ":" + stripPeriod(schema.get("description").textValue()));
                    }
                }
            }
            tokens += 12;
        }
        return tokens;
    }

    private static String stripPeriod(String text) {
        return text.endsWith(".") ? text.substring(0, text.length() - 1) : text;
    }

    static JsonNode fixture(String name) throws IOException {
        try (InputStream in = EstimationAccuracyTest.class.getResourceAsStream("/usage/" + name + ".json")) {
            return JSON.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    private static double relativeError(long estimate, long truth) {
        return Math.abs(estimate - truth) / (double) truth;
    }

    private static double max(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    }

    private static double mean(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    }
}
