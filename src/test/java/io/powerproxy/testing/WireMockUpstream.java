package io.powerproxy.testing;

import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;

/**
 * The WireMock upstream of the end-to-end tests: one server on loopback, on a port the kernel picks as it binds (so no
 * other test can take it between choice and bind), started before a class's first test, emptied of stubs and
 * recorded requests before each test, and stopped after the class.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final WireMockExtension azure = WireMockUpstream.extension();
 * }</pre>
 */
public final class WireMockUpstream {

    private WireMockUpstream() {
    }

    /** For a {@code static} {@code @RegisterExtension} field (on an instance field it would start once per test). */
    public static WireMockExtension extension() {
        return WireMockExtension.newInstance().options(options()).build();
    }

    /** Loopback only, HTTP on a port chosen when the server binds: the settings every WireMock of the tests starts from. */
    static WireMockConfiguration options() {
        return WireMockConfiguration.options().bindAddress("127.0.0.1").dynamicPort();
    }
}
