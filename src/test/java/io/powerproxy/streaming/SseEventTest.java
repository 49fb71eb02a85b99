package io.powerproxy.streaming;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class SseEventTest {

    @Test
    void dataOfSeveralDataLinesIsJoinedWithNewlines() {
        assertEquals("first\nsecond\n\nfourth", data("data: first\ndata: second\ndata:\ndata: fourth\n\n"));
    }

    @Test
    void onlyOneSpaceAfterTheColonIsRemoved() {
        assertEquals("no space", data("data:no space\n\n"));
        assertEquals(" two spaces", data("data:  two spaces\n\n"));
        assertEquals("", data("data\n\n"));
    }

    @Test
    void commentsAndOtherFieldsAreNotData() {
        String raw = ": ping\nevent: delta\nid: 42\nretry: 1000\ndatax: no\ndata: yes\r\n\r\n";
        SseEvent event = SseEvent.of(raw.getBytes(UTF_8));

        assertEquals("yes", event.data());
        assertArrayEquals(raw.getBytes(UTF_8), event.raw());
        assertEquals(raw.length(), event.length());
    }

    @Test
    void anEventWithoutDataLinesHasNullData() {
        assertNull(data(": keep-alive\n\n"));
        assertNull(data("event: ping\r\r"));
        assertNull(data("\n"));
    }

    @Test
    void dataIsDecodedAsUtf8() {
        assertEquals("Grüße, 你好 😀", data("data: Grüße, 你好 😀\n\n"));
    }

    @Test
    void doneIsRecognisedOnlyAsTheWholeData() {
        assertTrue(SseEvent.of("data: [DONE]\r\n\r\n".getBytes(UTF_8)).isDone());
        assertFalse(SseEvent.of("data: [DONE] \n\n".getBytes(UTF_8)).isDone());
        assertFalse(SseEvent.of(": [DONE]\n\n".getBytes(UTF_8)).isDone());
    }

    @Test
    void writeToWritesTheRawBytes() throws IOException {
        byte[] raw = "id: 1\rdata: x\r\r".getBytes(UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        SseEvent.of(raw).writeTo(out);

        assertArrayEquals(raw, out.toByteArray());
    }

    private static String data(String raw) {
        return SseEvent.of(raw.getBytes(UTF_8)).data();
    }
}
