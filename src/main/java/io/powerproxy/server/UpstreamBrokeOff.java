package io.powerproxy.server;

import java.io.IOException;

/** The upstream failed while its answer was being passed on, after the client got the status line. */
final class UpstreamBrokeOff extends IOException {
    UpstreamBrokeOff(IOException cause) {
        super(cause.getMessage(), cause);
    }
}
