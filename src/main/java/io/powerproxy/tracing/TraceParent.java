package io.powerproxy.tracing;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads and writes W3C {@code traceparent} values ({@code 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>}) with
 * plain character checks: no regular expression, and nothing allocated for a value it refuses.
 */
public final class TraceParent {

    /** The length of a version-00 value. */
    static final int LENGTH = 55;

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private TraceParent() {
    }

    /**
     * Whether a value is a traceparent the proxy can continue: version 00 of exactly 55 characters, or a later version
     * (not {@code ff}) whose first 55 characters read as version 00 and are followed by the end or a {@code -}, as
     * the W3C asks of parsers; lower-case hex only, and neither id all zeros.
     */
    public static boolean isValid(String value) {
        if (value == null || value.length() < LENGTH) {
            return false;
        }
        char v0 = value.charAt(0);
        char v1 = value.charAt(1);
        if (!isHex(v0) || !isHex(v1) || (v0 == 'f' && v1 == 'f')) {
            return false;
        }
        boolean version00 = v0 == '0' && v1 == '0';
        if (version00 ? value.length() != LENGTH : value.length() > LENGTH && value.charAt(LENGTH) != '-') {
            return false;
        }
        return value.charAt(2) == '-' && value.charAt(35) == '-' && value.charAt(52) == '-'
                && isNonZeroHex(value, 3, 35) && isNonZeroHex(value, 36, 52) && isHex(value.charAt(53))
                && isHex(value.charAt(54));
    }

    /**
     * A valid value as version 00, to forward: the value itself when it is version 00, else its trace id, parent id and
     * flags under version 00 (what a later version adds is not known, so not passed on).
     */
    static String asVersion00(String valid) {
        if (valid.length() == LENGTH && valid.charAt(0) == '0' && valid.charAt(1) == '0') {
            return valid;
        }
        return "00" + valid.substring(2, LENGTH);
    }

    /** The trace id (32 hex characters) of a valid value. */
    static String traceId(String valid) {
        return valid.substring(3, 35);
    }

    /**
     * A new version-00 value with a random trace id and parent id, flagged sampled: the proxy records the request under
     * that trace id (access log, usage record), so it asks the upstream to record its part too.
     */
    static String random() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long high = random.nextLong();
        long low = random.nextLong();
        long parent = random.nextLong();
        if ((high | low) == 0) {
            low = 1;
        }
        if (parent == 0) {
            parent = 1;
        }
        char[] out = new char[LENGTH];
        out[0] = '0';
        out[1] = '0';
        out[2] = '-';
        hex(high, out, 3);
        hex(low, out, 19);
        out[35] = '-';
        hex(parent, out, 36);
        out[52] = '-';
        out[53] = '0';
        out[54] = '1';
        return new String(out);
    }

    /** A version-00 value from its parts (ids as lower-case hex, flags as a byte). */
    static String of(String traceId, String parentId, byte flags) {
        char[] out = new char[LENGTH];
        out[0] = '0';
        out[1] = '0';
        out[2] = '-';
        traceId.getChars(0, 32, out, 3);
        out[35] = '-';
        parentId.getChars(0, 16, out, 36);
        out[52] = '-';
        out[53] = HEX[(flags >> 4) & 0xf];
        out[54] = HEX[flags & 0xf];
        return new String(out);
    }

    private static void hex(long value, char[] out, int at) {
        for (int i = 15; i >= 0; i--) {
            out[at + i] = HEX[(int) (value & 0xf)];
            value >>>= 4;
        }
    }

    private static boolean isNonZeroHex(String value, int from, int to) {
        boolean nonZero = false;
        for (int i = from; i < to; i++) {
            char c = value.charAt(i);
            if (!isHex(c)) {
                return false;
            }
            nonZero |= c != '0';
        }
        return nonZero;
    }

    private static boolean isHex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
}
