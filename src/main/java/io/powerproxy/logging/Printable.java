package io.powerproxy.logging;

/**
 * Makes text that a client or an upstream chose safe for a log line or a usage record: every control character
 * (C0, DEL, C1), line and paragraph separator, invisible formatting character (bidi overrides, zero-width marks)
 * and unpaired surrogate is written as a visible escape ({@code \r}, {@code \n}, {@code \t}, else
 * <code>&#92;u0007</code> and the like), so such text can neither start a forged line nor hide or reorder what a
 * reader sees.
 *
 * <p>Everything else stays as it was, backslashes included: escaping is idempotent (its output has nothing left
 * to escape), so a value that passes through it twice, e.g. a usage record built from another, is not changed
 * twice. The price is that a literal {@code \n} typed by a client reads the same as an escaped line feed.
 */
public final class Printable {

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Printable() {
    }

    /** The text with every unprintable character escaped; the same instance when there is none; null stays null. */
    public static String of(String text) {
        if (text == null) {
            return null;
        }
        int first = firstUnprintable(text);
        if (first < 0) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length() + 16).append(text, 0, first);
        int i = first;
        while (i < text.length()) {
            int codePoint = text.codePointAt(i);
            if (unprintable(codePoint)) {
                escape(out, codePoint);
            } else {
                out.appendCodePoint(codePoint);
            }
            i += Character.charCount(codePoint);
        }
        return out.toString();
    }

    private static int firstUnprintable(String text) {
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7f) {
                i++;
                continue;
            }
            int codePoint = text.codePointAt(i);
            if (unprintable(codePoint)) {
                return i;
            }
            i += Character.charCount(codePoint);
        }
        return -1;
    }

    private static boolean unprintable(int codePoint) {
        if (codePoint >= 0x20 && codePoint < 0x7f) {
            return false;
        }
        int type = Character.getType(codePoint);
        return type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR || type == Character.SURROGATE;
    }

    private static void escape(StringBuilder out, int codePoint) {
        switch (codePoint) {
            case '\r' -> out.append("\\r");
            case '\n' -> out.append("\\n");
            case '\t' -> out.append("\\t");
            default -> {
                for (char c : Character.toChars(codePoint)) {
                    out.append("\\u").append(HEX[(c >> 12) & 0xf]).append(HEX[(c >> 8) & 0xf])
                            .append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
                }
            }
        }
    }
}
