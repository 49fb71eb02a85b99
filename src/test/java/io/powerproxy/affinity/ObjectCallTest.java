package io.powerproxy.affinity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.json.Json;
import org.junit.jupiter.api.Test;

/** Which requests concern objects, which id they are routed by, and what their answer creates. */
class ObjectCallTest {

    private static JsonNode json(String text) throws Exception {
        return Json.MAPPER.readTree(text);
    }

    @Test
    void callsOnAnObjectAreRoutedByTheIdInThePath() {
        assertEquals(new ObjectCall("file-1", true, false, null), ObjectCall.of("GET", "/openai/files/file-1", null));
        assertEquals(new ObjectCall("file-1", true, false, null),
                ObjectCall.of("GET", "/openai/v1/files/file-1/content", null));
        assertEquals(new ObjectCall("thread_1", true, false, null),
                ObjectCall.of("POST", "/openai/threads/thread_1/runs/run_1/cancel", null));
        assertEquals(new ObjectCall("resp_1", true, true, null), ObjectCall.of("DELETE", "/openai/responses/resp_1", null));
        assertEquals(new ObjectCall("vs_1", true, false, null),
                ObjectCall.of("DELETE", "/openai/vector_stores/vs_1/files/file-2", null), "deletes the file's link only");
    }

    @Test
    void creatingCallsWatchTheirAnswerAndFollowTheirBodysReferences() throws Exception {
        assertEquals(new ObjectCall(null, false, false, "id"), ObjectCall.of("POST", "/openai/files", null));
        assertEquals(new ObjectCall("resp_0", false, false, "id"), ObjectCall.of("POST", "/openai/v1/responses",
                json("{\"model\":\"gpt-4o\",\"previous_response_id\":\"resp_0\"}")));
        assertEquals(new ObjectCall("conv_1", false, false, "id"), ObjectCall.of("POST", "/openai/v1/responses",
                json("{\"conversation\":{\"id\":\"conv_1\"}}")));
        assertEquals(new ObjectCall("file-in", false, false, "id"), ObjectCall.of("POST", "/openai/batches",
                json("{\"input_file_id\":\"file-in\",\"endpoint\":\"/chat/completions\"}")));
        assertEquals(new ObjectCall("asst_1", false, false, "thread_id"), ObjectCall.of("POST", "/openai/threads/runs",
                json("{\"assistant_id\":\"asst_1\"}")));
        assertEquals(new ObjectCall("resp_0", false, false, null), ObjectCall.of("POST", "/openai/v1/responses",
                json("{\"store\":false,\"previous_response_id\":\"resp_0\"}")), "a response not stored is not remembered");
    }

    @Test
    void statelessCallsAndIdsThatCannotBeIdsConcernNoObject() throws Exception {
        assertNull(ObjectCall.of("POST", "/openai/deployments/gpt-4o/chat/completions", null));
        assertNull(ObjectCall.of("POST", "/openai/v1/chat/completions", json("{\"model\":\"gpt-4o\"}")));
        assertNull(ObjectCall.of("GET", "/openai/files", null), "listing");
        assertNull(ObjectCall.of("GET", "/openai/models/gpt-4o", null));
        assertNull(ObjectCall.of("POST", "/openai/v1/responses", json("{\"store\":false}")));
        assertNull(ObjectCall.of("GET", "/openai/files/file%01x", null));
        assertNull(ObjectCall.of("GET", "/openai/files/" + "x".repeat(129), null));
        assertEquals(new ObjectCall(null, false, false, "id"), ObjectCall.of("POST", "/openai/v1/responses",
                json("{\"previous_response_id\":\"resp\\n1\"}")), "a body reference that cannot be an id is ignored");
    }
}
