package io.powerproxy.tracing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** W3C traceparent and tracestate checks, the way the proxy reads them from a client. */
class TraceParentTest {

    static final String VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    @Test
    void aVersion00ValueIsValidAndForwardedAsItIs() {
        assertTrue(TraceParent.isValid(VALID));
        assertEquals(VALID, TraceParent.asVersion00(VALID));
        assertEquals("0af7651916cd43dd8448eb211c80319c", TraceParent.traceId(VALID));
        assertTrue(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
    }

    @Test
    void upperCaseHexIsNotValid() {
        assertFalse(TraceParent.isValid(VALID.toUpperCase()));
        assertFalse(TraceParent.isValid("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
        assertFalse(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01"));
        assertFalse(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A"));
    }

    @Test
    void idsOfOnlyZerosAreNotValid() {
        assertFalse(TraceParent.isValid("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
        assertFalse(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
    }

    @Test
    void versionFfIsNotValid() {
        assertFalse(TraceParent.isValid("ff" + VALID.substring(2)));
    }

    @Test
    void aVersion00ValueOfAnotherLengthIsNotValid() {
        assertFalse(TraceParent.isValid(VALID.substring(0, 54)));
        assertFalse(TraceParent.isValid(VALID + "-"));
        assertFalse(TraceParent.isValid(VALID + "0"));
        assertFalse(TraceParent.isValid(""));
        assertFalse(TraceParent.isValid(null));
    }

    @Test
    void aLaterVersionIsContinuedAsVersion00WithoutWhatItAdds() {
        String later = "01" + VALID.substring(2) + "-what-version-01-adds";
        assertTrue(TraceParent.isValid(later));
        assertEquals(VALID, TraceParent.asVersion00(later));
        assertTrue(TraceParent.isValid("01" + VALID.substring(2)));
        assertFalse(TraceParent.isValid("01" + VALID.substring(2) + "x"));
    }

    @Test
    void misplacedSeparatorsAndNonHexCharactersAreNotValid() {
        assertFalse(TraceParent.isValid(VALID.replace('-', '_')));
        assertFalse(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01"));
        assertFalse(TraceParent.isValid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333\u0007-01"));
        assertFalse(TraceParent.isValid("0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        assertFalse(TraceParent.isValid(" " + VALID.substring(1)));
    }

    @Test
    void aNewValueIsValidSampledAndDifferentEachTime() {
        Set<String> traceIds = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String made = TraceParent.random();
            assertTrue(TraceParent.isValid(made), made);
            assertTrue(made.startsWith("00-") && made.endsWith("-01"), made);
            traceIds.add(TraceParent.traceId(made));
        }
        assertEquals(1000, traceIds.size());
    }

    @Test
    void aValueFromPartsIsValid() {
        assertEquals(VALID, TraceParent.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", (byte) 1));
        assertEquals("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff",
                TraceParent.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", (byte) 0xff));
    }

    @Test
    void aTracestateIsPassedOnJoinedWhenItIsPrintableAndShortEnough() {
        assertEquals("congo=t61rcWkgMzE", TraceContext.tracestate(List.of("congo=t61rcWkgMzE")));
        assertEquals("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                TraceContext.tracestate(List.of("congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7")));
        assertEquals("a=" + "x".repeat(510), TraceContext.tracestate(List.of("a=" + "x".repeat(510))));
        assertNull(TraceContext.tracestate(List.of("a=" + "x".repeat(511))));
        assertNull(TraceContext.tracestate(List.of("a=b\u0007")));
        assertNull(TraceContext.tracestate(List.of("a=\u00e9")));
        assertNull(TraceContext.tracestate(List.of()));
        assertNull(TraceContext.tracestate(null));
    }

    @Test
    void withoutAnAgentTheClientsValidTraceIsContinuedAndAnyOtherReplaced() {
        TraceContext client = TraceContext.of("r1", List.of(VALID), List.of("congo=t61rcWkgMzE"));
        assertEquals(new TraceContext("0af7651916cd43dd8448eb211c80319c", VALID, "congo=t61rcWkgMzE",
                TraceContext.Origin.CLIENT), client);

        TraceContext none = TraceContext.of("r2", null, List.of("congo=t61rcWkgMzE"));
        assertEquals(TraceContext.Origin.PROXY, none.origin());
        assertTrue(TraceParent.isValid(none.traceparent()));
        assertEquals(TraceParent.traceId(none.traceparent()), none.traceId());
        assertNull(none.tracestate());

        TraceContext invalid = TraceContext.of("r3", List.of(VALID.toUpperCase()), List.of("congo=t61rcWkgMzE"));
        assertEquals(TraceContext.Origin.PROXY, invalid.origin());
        assertNotEquals("0af7651916cd43dd8448eb211c80319c", invalid.traceId());
        assertNull(invalid.tracestate());

        TraceContext two = TraceContext.of("r4", List.of(VALID, VALID), null);
        assertEquals(TraceContext.Origin.PROXY, two.origin());
    }
}
