package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** The test matrix runs each set of tests on the Java it names (pom.xml, profile java21). */
class TestRuntimeTest {

    @Test
    void theTestsRunOnTheJavaVersionTheMatrixNames() {
        String expected = System.getProperty("powerproxy.test.javaFeature");
        assumeTrue(expected != null, "this run names no Java version");
        assertEquals(Integer.parseInt(expected), Runtime.version().feature(),
                "the tests meant for Java " + expected + " run on " + Runtime.version() + " from "
                        + System.getProperty("java.home"));
    }
}
