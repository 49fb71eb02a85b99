package io.powerproxy.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** Printable shows every character that could break or disguise a log line as a visible escape. */
class PrintableTest {

    @Test
    void lineBreaksAndTabsBecomeTheirUsualEscapes() {
        assertEquals("a\\r\\nINFO forged\\tline", Printable.of("a\r\nINFO forged\tline"));
    }

    @Test
    void otherControlSeparatorAndInvisibleFormattingCharactersBecomeUnicodeEscapes() {
        assertEquals("\\u0000\\u0007\\u001b[31m\\u007f\\u0085\\u2028\\u2029\\u202e\\u200b\\ufeff",
                Printable.of("\u0000\u0007\u001b[31m\u007f\u0085\u2028\u2029\u202e\u200b\ufeff"));
    }

    @Test
    void aTagCharacterOutsideTheBasicPlaneAndALoneSurrogateAreEscapedToo() {
        assertEquals("x\\udb40\\udc01y\\ud800", Printable.of("x\udb40\udc01y\ud800"));
    }

    @Test
    void printableTextIncludingBackslashesAccentsAndEmojiIsReturnedAsTheSameInstance() {
        String text = "gpt-4o \\n Zürich 東京 \ud83d\ude00 é";

        assertSame(text, Printable.of(text));
    }

    @Test
    void escapingTwiceChangesNothingMore() {
        String once = Printable.of("a\r\n\u0007\u202eb");

        assertSame(once, Printable.of(once));
    }

    @Test
    void nullStaysNull() {
        assertNull(Printable.of(null));
    }
}
