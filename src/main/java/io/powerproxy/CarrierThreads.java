package io.powerproxy;

/**
 * Keeps a Java 21 to 23 runtime from freezing on a few slow clients.
 *
 * <p>The JDK's HTTP server reads request bodies and writes answers inside {@code synchronized} methods. Before Java 24
 * (JEP 491), a virtual thread that blocks there pins its carrier thread, and the scheduler does not make up for it: with
 * one carrier per core, two clients that upload slowly, or read a stream slowly, on a 2-core container stop every
 * other request. This includes the request line and headers, which the server reads on the handler's virtual thread:
 * each client that sends them slowly holds a carrier until they are complete or the server's bound on reading a
 * request ({@code sun.net.httpserver.maxReqTime}) cuts it off. On those runtimes the proxy therefore allows
 * {@value #BEFORE_JDK_24} carrier threads, unless {@code -Djdk.virtualThreadScheduler.parallelism} is given, and says
 * so at start. The JDK starts them only when work waits and none is free, and ends them after 30 s without work.
 * Java 24 and newer need nothing.
 */
final class CarrierThreads {

    /** The system property of the JDK's virtual-thread scheduler that sets the number of carrier threads. */
    static final String PROPERTY = "jdk.virtualThreadScheduler.parallelism";
    /**
     * Carrier threads on Java 21 to 23: as many slow clients as this, less a few, can be waited on at once. 256 let 500
     * clients that trickle their headers stop every other request for two minutes; with this many, 2,000 of them
     * took 2,035 threads and 170 MB more memory than on Java 25, and the others were still answered in milliseconds.
     */
    static final int BEFORE_JDK_24 = 4096;

    private CarrierThreads() {
    }

    /**
     * The carrier-thread count to set, or null to leave the JDK's default.
     *
     * @param javaFeatureVersion the runtime's feature version ({@code Runtime.version().feature()})
     * @param configured the property's value when given on the command line, else null
     */
    static String toSet(int javaFeatureVersion, String configured) {
        if (javaFeatureVersion >= 24 || configured != null) {
            return null;
        }
        return Integer.toString(Math.max(BEFORE_JDK_24, Runtime.getRuntime().availableProcessors()));
    }

    /**
     * Sets the property when this runtime needs it; must run before the first virtual thread starts, as the JDK reads
     * it once. Returns the warning to log, or null.
     */
    static String applyToThisRuntime() {
        int feature = Runtime.version().feature();
        String value = toSet(feature, System.getProperty(PROPERTY));
        if (value == null) {
            return null;
        }
        System.setProperty(PROPERTY, value);
        return "Java " + feature + " pins a virtual thread to its carrier while the JDK's HTTP server waits on a slow"
                + " client; allowing up to " + value + " carrier threads (-D" + PROPERTY + "), so up to about that many"
                + " slow clients at once cannot stop the others. Java 24 or newer does not pin: use it in production.";
    }
}
