package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** On Java 21 to 23 the proxy runs enough carrier threads that slow clients cannot pin them all. */
class CarrierThreadsTest {

    @Test
    void java21To23GetTheLargerCarrierPool() {
        String expected = Integer.toString(Math.max(CarrierThreads.BEFORE_JDK_24,
                Runtime.getRuntime().availableProcessors()));
        assertEquals(expected, CarrierThreads.toSet(21, null));
        assertEquals(expected, CarrierThreads.toSet(23, null));
    }

    @Test
    void java24AndNewerAndAnExplicitSettingAreLeftAlone() {
        assertNull(CarrierThreads.toSet(24, null));
        assertNull(CarrierThreads.toSet(25, null));
        assertNull(CarrierThreads.toSet(21, "8"));
    }

    @Test
    void onThisRuntimeNothingIsSetWhenItIsJava24OrNewer() {
        String before = System.getProperty(CarrierThreads.PROPERTY);
        try {
            String warning = CarrierThreads.applyToThisRuntime();
            if (Runtime.version().feature() >= 24) {
                assertNull(warning);
                assertEquals(before, System.getProperty(CarrierThreads.PROPERTY));
            } else {
                // A value given on the command line (the Java 21 test run gives one, as main would set it) is kept.
                String set = CarrierThreads.toSet(Runtime.version().feature(), before);
                assertEquals(set == null ? before : set, System.getProperty(CarrierThreads.PROPERTY));
            }
        } finally {
            if (before == null) {
                System.clearProperty(CarrierThreads.PROPERTY);
            }
        }
    }
}
