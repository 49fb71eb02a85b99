package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.api.Encoding;
import io.powerproxy.usage.UsageRecord.Operation;
import io.powerproxy.usage.UsageRecord.UsageSource;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ResponseUsageTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Encoding O200K = TokenEncodings.forModel("gpt-4o");
    private static final Encoding CL100K = TokenEncodings.forModel("gpt-4");

    @Test
    void aChatAnswersUsageIsReported() throws Exception {
        String body = """
                {"id":"chatcmpl-9x","object":"chat.completion","created":1727000000,"model":"gpt-4o-2024-08-06",
                 "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hi!","refusal":null},
                   "content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
                 "prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}],
                 "usage":{"prompt_tokens":19,"completion_tokens":3,"total_tokens":22,
                   "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""";

        Counts counts = ResponseUsage.of(bytes(body), request("Hello"), Operation.CHAT, "my-deployment");

        assertEquals(new Counts(19, 3, 22, UsageSource.REPORTED, "gpt-4o-2024-08-06"), counts);
    }

    @Test
    void anEmbeddingsAnswerReportsNoCompletionTokens() {
        String body = """
                {"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093]}],
                 "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}""";

        Counts counts = ResponseUsage.of(bytes(body), null, Operation.EMBEDDINGS, null);

        assertEquals(new Counts(8, 0, 8, UsageSource.REPORTED, "text-embedding-3-small"), counts);
    }

    @Test
    void aMissingTotalIsTheSumAndTheResponsesApiNamesAreRead() {
        Counts chat = ResponseUsage.of(bytes("{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}"), null, Operation.CHAT, "hint");
        Counts responses = ResponseUsage.of(bytes("{\"object\":\"response\",\"model\":\"gpt-4.1\",\"output\":[],"
                + "\"usage\":{\"input_tokens\":30,\"output_tokens\":12,\"total_tokens\":42}}"), null, Operation.OTHER, null);

        assertEquals(new Counts(5, 7, 12, UsageSource.REPORTED, "hint"), chat);
        assertEquals(new Counts(30, 12, 42, UsageSource.REPORTED, "gpt-4.1"), responses);
    }

    @Test
    void aChatAnswerWithoutUsageIsEstimatedFromTheRequestAndTheMessage() throws Exception {
        String body = """
                {"model":"gpt-4o","choices":[
                  {"index":0,"message":{"role":"assistant","content":"Paris is the capital of France."}},
                  {"index":1,"message":{"role":"assistant","content":null,"tool_calls":[
                    {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\\"q\\":\\"capital of France\\"}"}}]}}]}""";

        Counts counts = ResponseUsage.of(bytes(body), request("What is the capital of France?"), Operation.CHAT, null);

        long prompt = 3 + O200K.countTokensOrdinary("user") + O200K.countTokensOrdinary("What is the capital of France?") + 3;
        long completion = O200K.countTokensOrdinary("Paris is the capital of France.") + O200K.countTokensOrdinary("lookup")
                + O200K.countTokensOrdinary("{\"q\":\"capital of France\"}");
        assertEquals(new Counts(prompt, completion, prompt + completion, UsageSource.ESTIMATED, "gpt-4o"), counts);
    }

    @Test
    void aCompletionsAnswerWithoutUsageIsEstimatedFromItsText() throws Exception {
        String body = "{\"choices\":[{\"index\":0,\"text\":\" there was a princess.\",\"finish_reason\":\"stop\"}]}";

        Counts counts = ResponseUsage.of(bytes(body), JSON.readTree("{\"prompt\":\"Once upon a time\"}"), Operation.COMPLETIONS,
                "gpt-35-turbo-instruct");

        long prompt = CL100K.countTokensOrdinary("Once upon a time");
        long completion = CL100K.countTokensOrdinary(" there was a princess.");
        assertEquals(new Counts(prompt, completion, prompt + completion, UsageSource.ESTIMATED, "gpt-35-turbo-instruct"), counts);
    }

    @Test
    void imageAndAudioAnswersCountZero() {
        String image = "{\"created\":1727000000,\"data\":[{\"url\":\"https://example.blob.core.windows.net/img.png\","
                + "\"revised_prompt\":\"A watercolor fox\"}]}";
        byte[] audio = {(byte) 0xFF, (byte) 0xFB, (byte) 0x90, 0x64, 0x00, 0x0F, (byte) 0xF0};

        assertEquals(new Counts(0, 0, 0, UsageSource.ESTIMATED, "dall-e-3"),
                ResponseUsage.of(bytes(image), null, Operation.IMAGES, "dall-e-3"));
        assertEquals(new Counts(0, 0, 0, UsageSource.ESTIMATED, "tts"), ResponseUsage.of(audio, null, Operation.AUDIO, "tts"));
        assertEquals(ResponseUsage.none("whisper"),
                ResponseUsage.of(bytes("{\"text\":\"Hello from the transcript.\"}"), null, Operation.AUDIO, "whisper"));
    }

    @Test
    void garbageCountsZeroWithoutThrowing() throws Exception {
        JsonNode request = request("Hi");
        for (byte[] body : new byte[][] {null, new byte[0], bytes("not json"), bytes("{\"choices\":[{\"mess"), bytes("[1,2,3]"),
                bytes("\"text\""), bytes("{\"choices\":\"none\",\"usage\":\"lots\"}"), {(byte) 0xC3, (byte) 0x28}}) {
            Counts counts = ResponseUsage.of(body, request, Operation.OTHER, "hint");

            assertEquals(new Counts(0, 0, 0, UsageSource.ESTIMATED, "hint"), counts);
        }
    }

    @Test
    void anErrorAnswerCountsZero() throws Exception {
        String body = """
                {"error":{"code":"content_filter","message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
                 "param":"prompt","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}""";

        Counts counts = ResponseUsage.of(bytes(body), request("something"), Operation.CHAT, "gpt-4o");

        assertEquals(new Counts(0, 0, 0, UsageSource.ESTIMATED, "gpt-4o"), counts);
    }

    @Test
    void noneIsZeroEstimatedCountsWithTheHint() {
        assertEquals(new Counts(0, 0, 0, UsageSource.ESTIMATED, null), ResponseUsage.none(null));
        assertEquals("gpt-4o", ResponseUsage.none("gpt-4o").model());
    }

    private static JsonNode request(String userText) throws Exception {
        return JSON.readTree("{\"messages\":[{\"role\":\"user\",\"content\":" + JSON.writeValueAsString(userText) + "}]}");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
