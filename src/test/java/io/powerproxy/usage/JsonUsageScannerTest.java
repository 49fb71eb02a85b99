package io.powerproxy.usage;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.json.Json;
import io.powerproxy.usage.UsageRecord.Operation;
import org.junit.jupiter.api.Test;

/** The scan of an answer passing through finds the same top-level counts as parsing it whole, however it is split. */
class JsonUsageScannerTest {

    private static final String REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";

    @Test
    void theTopLevelUsageAndModelAreFoundWhereverTheAnswerIsSplit() {
        String answer = "{\"id\":\"x\",\"choices\":[{\"message\":{\"refusal\":\"say \\\"}\\\" now\","
                + "\"content\":\"a \\\"usage\\\": {} } ] , \\\\\"}}],"
                + "\"nested\":{\"usage\":{\"prompt_tokens\":999}},\"model\" : \"gpt-4o-2024-08-06\",\n"
                + "  \"usage\" : {\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46,"
                + "\"prompt_tokens_details\":{\"cached_tokens\":0}}}";
        Counts whole = ResponseUsage.of(answer.getBytes(UTF_8), request(), Operation.CHAT, null);
        assertEquals(new Counts(12, 34, 46, UsageRecord.UsageSource.REPORTED, "gpt-4o-2024-08-06"), whole);

        byte[] bytes = answer.getBytes(UTF_8);
        for (int split = 0; split <= bytes.length; split++) {
            JsonUsageScanner scanner = new JsonUsageScanner();
            scanner.feed(bytes, 0, split);
            scanner.feed(bytes, split, bytes.length - split);
            assertEquals(whole, scanner.counts(request(), Operation.CHAT, null), "split at " + split);
        }
        JsonUsageScanner byteByByte = new JsonUsageScanner();
        for (int i = 0; i < bytes.length; i++) {
            byteByByte.feed(bytes, i, 1);
        }
        assertEquals(whole, byteByByte.counts(request(), Operation.CHAT, null));
    }

    @Test
    void theResponsesApisInputAndOutputTokensCountToo() {
        assertEquals(new Counts(7, 8, 15, UsageRecord.UsageSource.REPORTED, "gpt-5"),
                scan("{\"usage\":{\"input_tokens\":7,\"output_tokens\":8,\"total_tokens\":15},\"model\":\"gpt-5\"}",
                        Operation.OTHER));
    }

    @Test
    void anErrorAnswerAndAnAnswerWithoutUsageCountAsTheBufferedPathCountsThem() {
        assertEquals(ResponseUsage.none("gpt-4o"), scan("{\"error\":{\"code\":\"x\"},\"model\":\"gpt-4o\"}", Operation.CHAT));
        Counts chat = scan("{\"model\":\"gpt-4o\",\"choices\":[{\"message\":{\"content\":\"long text\"}}]}", Operation.CHAT);
        assertEquals(UsageRecord.UsageSource.ESTIMATED, chat.source());
        assertEquals(TokenEstimator.promptTokens(request(), "gpt-4o"), chat.promptTokens());
        assertEquals(0, chat.completionTokens(), "the content passed through and was not kept");
        Counts images = scan("{\"created\":1,\"data\":[{\"b64_json\":\"AAAA\"}]}", Operation.IMAGES);
        assertEquals(ResponseUsage.none(null), images);
    }

    @Test
    void whatIsNotOneCompleteJsonObjectCountsZero() {
        assertEquals(ResponseUsage.none(null), scan("[{\"usage\":{\"prompt_tokens\":1}}]", Operation.CHAT));
        assertEquals(ResponseUsage.none(null), scan("{\"usage\":{\"prompt_tokens\":1}", Operation.CHAT));
        assertEquals(ResponseUsage.none(null), scan("not json", Operation.CHAT));
        assertEquals(ResponseUsage.none(null), scan("", Operation.CHAT));
    }

    @Test
    void aUsageValueLargerThanWhatIsKeptIsIgnoredInsteadOfHeld() {
        String huge = "{\"usage\":{\"prompt_tokens\":5,\"pad\":\"" + "x".repeat(JsonUsageScanner.MAX_VALUE_BYTES) + "\"}}";
        assertEquals(ResponseUsage.none(null), scan(huge, Operation.CHAT));
    }

    private static Counts scan(String answer, Operation operation) {
        JsonUsageScanner scanner = new JsonUsageScanner();
        byte[] bytes = answer.getBytes(UTF_8);
        scanner.feed(bytes, 0, bytes.length);
        return scanner.counts(request(), operation, null);
    }

    private static JsonNode request() {
        try {
            return Json.MAPPER.readTree(REQUEST);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
