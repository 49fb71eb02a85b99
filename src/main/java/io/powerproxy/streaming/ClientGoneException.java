package io.powerproxy.streaming;

import java.io.IOException;

/**
 * Writing to the client failed: the client went away, as opposed to the upstream.
 *
 * <p>It carries no stack trace of its own because it is an expected outcome; the cause keeps the I/O detail.
 */
public final class ClientGoneException extends IOException {

    /**
     * @param message what was being written when the client went away
     * @param cause the failure of the write or flush
     */
    public ClientGoneException(String message, IOException cause) {
        super(message, cause);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return this;
    }
}
