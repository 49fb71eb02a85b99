package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.api.Encoding;
import io.powerproxy.usage.StreamUsage.Event;
import io.powerproxy.usage.UsageRecord.UsageSource;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StreamUsageTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "gpt-4o-2024-08-06";
    private static final Encoding O200K = TokenEncodings.forModel("gpt-4o");
    private static final Encoding CL100K = TokenEncodings.forModel("gpt-4");

    private final StreamUsage usage = new StreamUsage();

    @Test
    void reportedUsageWinsOverTheEstimateAndItsChunkIsUsageOnly() throws Exception {
        assertEquals(Event.CHUNK, usage.onData(AzureChunks.role(MODEL)));
        assertEquals(Event.CHUNK, usage.onData(AzureChunks.content(MODEL, "Hello there, how can I help?")));
        assertEquals(Event.CHUNK, usage.onData(AzureChunks.finish(MODEL, "stop")));
        assertEquals(Event.USAGE_ONLY, usage.onData(AzureChunks.usage(MODEL, 1234, 56, 1290)));
        assertEquals(Event.IGNORED, usage.onData("[DONE]"));

        Counts counts = usage.finish(request("Hi"), "my-deployment");

        assertEquals(new Counts(1234, 56, 1290, UsageSource.REPORTED, MODEL), counts);
    }

    @Test
    void withoutAUsageChunkTheCountsAreEstimatedFromTheRequestAndTheStreamedText() throws Exception {
        usage.onData(AzureChunks.content(MODEL, "Hello there,"));
        usage.onData(AzureChunks.content(MODEL, " how can I help?"));

        Counts counts = usage.finish(request("Hi"), null);

        long completion = O200K.countTokensOrdinary("Hello there, how can I help?");
        long prompt = 3 + O200K.countTokensOrdinary("user") + O200K.countTokensOrdinary("Hi") + 3;
        assertEquals(new Counts(prompt, completion, prompt + completion, UsageSource.ESTIMATED, MODEL), counts);
    }

    @Test
    void chunksThatCarryNoTextCountNothingAndAreNotUsageOnly() {
        List<String> noText = List.of(
                AzureChunks.promptFilter(),
                AzureChunks.role(MODEL),
                AzureChunks.contentFilterOffsets(),
                AzureChunks.finish(MODEL, "stop"),
                "{\"choices\":[],\"usage\":null}",
                "{\"choices\":[{\"index\":0,\"delta\":{\"content\":null},\"usage\":null}],\"brand_new_field\":{\"x\":[1,2]}}",
                "{\"choices\":[{\"index\":0,\"delta\":{\"content\":42,\"tool_calls\":\"odd\",\"function_call\":7}}]}");
        for (String data : noText) {
            assertEquals(Event.CHUNK, usage.onData(data), data);
        }

        Counts counts = usage.finish(null, null);

        assertEquals(0, counts.completionTokens());
        assertEquals(0, counts.promptTokens());
        assertEquals(UsageSource.ESTIMATED, counts.source());
        assertEquals(MODEL, counts.model());
    }

    @Test
    void dataThatIsNotAJsonObjectIsIgnoredWithoutThrowing() {
        for (String data : new String[] {null, "", "   ", "[DONE]", "not json", "{\"choices\":[{\"delta\":", "[1,2,3]",
                "\"text\"", "{\"a\":1}{", "{\"a\":\"\\ud800\"}x"}) {
            Event event = usage.onData(data);
            assertTrue(event == Event.IGNORED || event == Event.CHUNK, String.valueOf(data));
        }
        assertEquals(Event.IGNORED, usage.onData("{\"choices\": [{\"delta\": {\"content\": \"cut off"));

        Counts counts = usage.finish(null, "hint");

        assertEquals(0, counts.totalTokens());
        assertEquals("hint", counts.model());
    }

    @Test
    void theModelIsTheFirstNonEmptyOneTheStreamReportsElseTheHint() {
        usage.onData(AzureChunks.promptFilter());
        assertEquals("the-hint", usage.finish(null, "the-hint").model());

        usage.onData(AzureChunks.role(MODEL));
        usage.onData(AzureChunks.content("another-model", "x"));

        assertEquals(MODEL, usage.finish(null, "the-hint").model());
    }

    @Test
    void aChunkWithChoicesAndUsageIsCountedButNotUsageOnly() {
        String data = "{\"model\":\"gpt-4\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}";

        assertEquals(Event.CHUNK, usage.onData(data));
        assertEquals(new Counts(10, 5, 15, UsageSource.REPORTED, "gpt-4"), usage.finish(null, null));
    }

    @Test
    void aUsageWithoutTotalAddsPromptAndCompletion() {
        assertEquals(Event.USAGE_ONLY, usage.onData("{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}"));

        assertEquals(10, usage.finish(null, null).totalTokens());
    }

    @Test
    void anEmptyOrMalformedUsageObjectIsNoUsage() {
        assertEquals(Event.CHUNK, usage.onData("{\"choices\":[],\"usage\":{}}"));
        assertEquals(Event.CHUNK, usage.onData("{\"choices\":[],\"usage\":{\"prompt_tokens\":\"many\"}}"));
        assertEquals(Event.CHUNK, usage.onData("{\"choices\":[],\"usage\":17}"));

        assertEquals(UsageSource.ESTIMATED, usage.finish(null, null).source());
    }

    @Test
    void toolCallArgumentsSplitAcrossChunksAreCounted() {
        String arguments = "{\"location\":\"Zurich, Switzerland\",\"unit\":\"celsius\",\"note\":\"don't round\"}";
        usage.onData(AzureChunks.role(MODEL));
        usage.onData(AzureChunks.toolCallStart(MODEL, 0, "call_1", "get_current_weather"));
        for (String piece : AzureChunks.characterPieces(arguments, new Random(7))) {
            usage.onData(AzureChunks.toolArguments(MODEL, 0, piece));
        }
        usage.onData(AzureChunks.toolCallStart(MODEL, 1, "call_2", "get_time"));
        usage.onData(AzureChunks.toolArguments(MODEL, 1, "{\"tz\":"));
        usage.onData(AzureChunks.toolArguments(MODEL, 1, "\"Europe/Zurich\"}"));
        usage.onData(AzureChunks.finish(MODEL, "tool_calls"));

        long expected = O200K.countTokensOrdinary("get_current_weather") + O200K.countTokensOrdinary(arguments)
                + O200K.countTokensOrdinary("get_time") + O200K.countTokensOrdinary("{\"tz\":\"Europe/Zurich\"}");
        assertEquals(expected, usage.finish(null, null).completionTokens());
    }

    @Test
    void legacyFunctionCallsRefusalsAndCompletionsTextAreCounted() {
        usage.onData("{\"model\":\"gpt-35-turbo\",\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\":\"}}}]}");
        usage.onData("{\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"\\\"tea\\\"}\"}}}]}");
        usage.onData("{\"choices\":[{\"index\":1,\"delta\":{\"refusal\":\"I can't help with that.\"}}]}");
        usage.onData("{\"choices\":[{\"index\":2,\"text\":\"Once upon\",\"finish_reason\":null}]}");
        usage.onData("{\"choices\":[{\"index\":2,\"text\":\" a time\",\"finish_reason\":null}]}");

        long expected = CL100K.countTokensOrdinary("lookup") + CL100K.countTokensOrdinary("{\"q\":\"tea\"}")
                + CL100K.countTokensOrdinary("I can't help with that.") + CL100K.countTokensOrdinary("Once upon a time");
        assertEquals(expected, usage.finish(null, null).completionTokens());
    }

    @Test
    void interleavedChoicesAreCountedAsSeparateTexts() {
        String first = "The quick brown fox jumps over the lazy dog.";
        String second = "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.";
        List<String> a = AzureChunks.wordPieces(first, new Random(1));
        List<String> b = AzureChunks.wordPieces(second, new Random(2));
        for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
            if (i < a.size()) {
                usage.onData("{\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + quote(a.get(i)) + "}}]}");
            }
            if (i < b.size()) {
                usage.onData("{\"model\":\"gpt-4o\",\"choices\":[{\"index\":1,\"delta\":{\"content\":" + quote(b.get(i)) + "}}]}");
            }
        }

        assertEquals(O200K.countTokensOrdinary(first) + O200K.countTokensOrdinary(second),
                usage.finish(null, null).completionTokens());
    }

    @Test
    void specialTokenStringsInTheStreamAreCountedAsText() {
        usage.onData(AzureChunks.content(MODEL, "The marker <|endoftext|> ends"));
        usage.onData(AzureChunks.content(MODEL, " a document; <|im_start|> starts a turn."));

        assertEquals(O200K.countTokensOrdinary("The marker <|endoftext|> ends a document; <|im_start|> starts a turn."),
                usage.finish(null, null).completionTokens());
    }

    @Test
    void theResponsesApiStreamIsCountedFromItsDeltasAndItsCompletedEvent() {
        StreamUsage estimated = new StreamUsage();
        estimated.onData("{\"type\":\"response.created\",\"response\":{\"model\":\"gpt-4.1-mini\",\"usage\":null}}");
        estimated.onData("{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}");
        estimated.onData("{\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\" world\"}");
        assertEquals(new Counts(0, 2, 2, UsageSource.ESTIMATED, "gpt-4.1-mini"), estimated.finish(null, null));

        assertEquals(Event.CHUNK, estimated.onData("{\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-4.1-mini\","
                + "\"usage\":{\"input_tokens\":20,\"output_tokens\":2,\"total_tokens\":22}}}"));
        assertEquals(new Counts(20, 2, 22, UsageSource.REPORTED, "gpt-4.1-mini"), estimated.finish(null, null));
    }

    @Test
    void finishingTwiceGivesTheSameCounts() {
        usage.onData(AzureChunks.content(MODEL, "Some words."));

        assertEquals(usage.finish(null, null), usage.finish(null, null));
    }

    @Test
    void aTwoMegabyteCompletionKeepsTheBufferSmallAndCountsExactly() throws Exception {
        String text = longText(2 * 1024 * 1024);
        Random random = new Random(42);
        int maxBuffered = 0;
        usage.onData(AzureChunks.role(MODEL));
        for (String piece : AzureChunks.wordPieces(text, random)) {
            usage.onData(AzureChunks.content(MODEL, piece));
            maxBuffered = Math.max(maxBuffered, usage.bufferedChars());
        }

        long truth = O200K.countTokensOrdinary(text);
        long estimate = usage.finish(null, null).completionTokens();

        assertTrue(maxBuffered < StreamUsage.FLUSH_AT + 1024, "buffered " + maxBuffered);
        assertTrue(Math.abs(estimate - truth) <= truth * 0.02, estimate + " vs " + truth);
        // Cutting only where a word ends keeps the count exact, not just close.
        assertEquals(truth, estimate);
    }

    @Test
    void textWithoutWordEndsIsCutAtTheHardLimitAndStaysClose() {
        StringBuilder digits = new StringBuilder();
        Random random = new Random(3);
        while (digits.length() < 300_000) {
            digits.append(random.nextInt(10));
        }
        String text = digits.toString();
        StreamUsage cl100k = new StreamUsage();
        int maxBuffered = 0;
        for (String piece : AzureChunks.characterPieces(text, random)) {
            cl100k.onData("{\"model\":\"gpt-4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + piece + "\"}}]}");
            maxBuffered = Math.max(maxBuffered, cl100k.bufferedChars());
        }

        long truth = CL100K.countTokensOrdinary(text);
        long estimate = cl100k.finish(null, null).completionTokens();

        assertTrue(maxBuffered <= StreamUsage.HARD_LIMIT + 12, "buffered " + maxBuffered);
        assertTrue(Math.abs(estimate - truth) <= 10, estimate + " vs " + truth);
    }

    @Test
    void cuttingAtWordEndsGivesTheCountOfTheWholeTextInBothEncodings() throws Exception {
        String text = longText(150_000) + " 12345678901² don't WORDSlower naïve café x\u0301y 𝐀𝐁𝐂 中文。中文！ 'quoted' end";
        for (String model : List.of("gpt-4o", "gpt-4")) {
            StreamUsage stream = new StreamUsage();
            for (String piece : AzureChunks.characterPieces(text, new Random(5))) {
                stream.onData("{\"model\":\"" + model + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + quote(piece) + "}}]}");
            }

            assertEquals(TokenEncodings.forModel(model).countTokensOrdinary(text), stream.finish(null, null).completionTokens(), model);
        }
    }

    @Test
    void theEncodingFollowsTheModelTheStreamReports() {
        String text = "Tokenizers differ: o200k_base and cl100k_base split this sentence differently, naturally.";
        StreamUsage gpt4 = new StreamUsage();
        gpt4.onData("{\"model\":\"gpt-4-0613\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + quote(text) + "}}]}");

        assertEquals(CL100K.countTokensOrdinary(text), gpt4.finish(null, "gpt-4o").completionTokens());
        assertNull(new StreamUsage().finish(null, null).model());
    }

    private static String longText(int minimumBytes) throws Exception {
        StringBuilder text = new StringBuilder();
        int bytes = 0;
        List<String> names = List.of("01-support-refund", "02-python-code-review", "04-german-travel", "05-japanese-recipe",
                "06-emoji-marketing", "07-sql-analytics-multiturn", "08-json-extraction", "09-chinese-summary",
                "11-french-email-names", "12-java-stacktrace");
        while (bytes < minimumBytes) {
            for (String name : names) {
                String content = EstimationAccuracyTest.fixture(name).get("completion").get("content").textValue() + "\n\n";
                text.append(content);
                bytes += content.getBytes(StandardCharsets.UTF_8).length;
            }
        }
        return text.toString();
    }

    private static JsonNode request(String userText) throws Exception {
        return JSON.readTree("{\"messages\":[{\"role\":\"user\",\"content\":" + quote(userText) + "}]}");
    }

    private static String quote(String text) {
        return JSON.getNodeFactory().textNode(text).toString();
    }
}
