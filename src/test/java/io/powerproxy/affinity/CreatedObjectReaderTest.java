package io.powerproxy.affinity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The id of a created object is picked out of its answer as it passes, whatever the pieces it arrives in. */
class CreatedObjectReaderTest {

    /** Reads the body through the reader in pieces of {@code piece} bytes; returns the ids found. */
    private static List<String> idsIn(String body, String key, boolean stream, int piece) throws IOException {
        List<String> found = new ArrayList<>();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (InputStream in = new CreatedObjectReader(new ByteArrayInputStream(bytes), key, stream, found::add)) {
            byte[] buffer = new byte[piece];
            java.io.ByteArrayOutputStream passed = new java.io.ByteArrayOutputStream();
            int n;
            while ((n = in.read(buffer)) > 0) {
                passed.write(buffer, 0, n);
            }
            assertArrayEquals(bytes, passed.toByteArray(), "the body passes unchanged");
        }
        return found;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 4096})
    void theTopLevelIdIsFoundWhereverTheAnswerIsSplitAndNestedIdsAreNot(int piece) throws IOException {
        String body = "{\"object\":\"assistant\",\"tools\":[{\"id\":\"tool_1\"}],\"meta\":{\"id\":\"no\"},"
                + "\"name\":\"say \\\"id\\\": \\\"x\\\"\",\"id\" : \"asst_abc123\",\"more\":1}";

        assertEquals(List.of("asst_abc123"), idsIn(body, "id", false, piece));
    }

    @Test
    void aRunOnANewThreadGivesItsThreadId() throws IOException {
        assertEquals(List.of("thread_9"), idsIn("{\"id\":\"run_1\",\"thread_id\":\"thread_9\"}", "thread_id", false,
                5));
    }

    @Test
    void anIdWithEscapesOrOverTheLongestIsNotTaken() throws IOException {
        assertEquals(List.of(), idsIn("{\"id\":\"file-\\u0001x\"}", "id", false, 16));
        assertEquals(List.of(), idsIn("{\"id\":\"" + "x".repeat(10_000) + "\"}", "id", false, 16));
        assertEquals(List.of(), idsIn("[{\"id\":\"file-1\"}]", "id", false, 16));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 13, 4096})
    void aResponsesStreamGivesTheIdOfItsResponseCreatedEvent(int piece) throws IOException {
        String stream = "event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":"
                + "{\"id\":\"resp_42\",\"status\":\"in_progress\"}}\r\n\r\n"
                + "event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":"
                + "{\"id\":\"resp_42\"}}\r\n\r\n";

        assertEquals(List.of("resp_42"), idsIn(stream, "id", true, piece));
    }

    @Test
    void aStreamWithoutAnIdInItsFirstEventsGivesNone() throws IOException {
        String stream = "data: {\"type\":\"ping\"}\n\n".repeat(CreatedObjectReader.MAX_EVENTS)
                + "data: {\"response\":{\"id\":\"resp_late\"}}\n\n";

        assertEquals(List.of(), idsIn(stream, "id", true, 64));
    }
}
