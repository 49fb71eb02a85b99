package io.powerproxy.server;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The request-body memory of the proxies a test starts in this JVM ({@link BodyMemory#PROPERTY}, read when a proxy
 * starts): set before each test of the class that registers it, cleared after, so no other class inherits it.
 */
final class BodyMemoryLimit implements BeforeEachCallback, AfterEachCallback {

    private final int mib;

    private BodyMemoryLimit(int mib) {
        this.mib = mib;
    }

    /** For a {@code static} {@code @RegisterExtension} field. */
    static BodyMemoryLimit ofMib(int mib) {
        return new BodyMemoryLimit(mib);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        System.setProperty(BodyMemory.PROPERTY, Integer.toString(mib));
    }

    @Override
    public void afterEach(ExtensionContext context) {
        System.clearProperty(BodyMemory.PROPERTY);
    }
}
