package io.powerproxy.streaming;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/**
 * An input stream guarded by an {@link IdleTimeout.Watch}: every read touches the watch, and a read that
 * ends because the watch fired throws an {@link HttpTimeoutException} that names the idle limit.
 */
public final class WatchedInputStream extends FilterInputStream {

    private final IdleTimeout.Watch watch;

    WatchedInputStream(InputStream in, IdleTimeout.Watch watch) {
        super(in);
        this.watch = watch;
    }

    /** Returns whether the stream was closed because no data came for longer than the idle limit. */
    public boolean timedOut() {
        return watch.expired();
    }

    @Override
    public int read() throws IOException {
        int b;
        try {
            b = in.read();
        } catch (IOException e) {
            throw timeoutOr(e);
        }
        return touched(b);
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n;
        try {
            n = in.read(b, off, len);
        } catch (IOException e) {
            throw timeoutOr(e);
        }
        return touched(n);
    }

    @Override
    public long skip(long n) throws IOException {
        long skipped;
        try {
            skipped = in.skip(n);
        } catch (IOException e) {
            throw timeoutOr(e);
        }
        watch.touch();
        return skipped;
    }

    @Override
    public void close() throws IOException {
        try {
            watch.close();
        } finally {
            in.close();
        }
    }

    private int touched(int result) throws IOException {
        // Some streams report a close from another thread as the end of the stream, not as an error.
        if (result < 0 && watch.expired()) {
            throw timeout(null);
        }
        watch.touch();
        return result;
    }

    private IOException timeoutOr(IOException e) {
        return watch.expired() ? timeout(e) : e;
    }

    private HttpTimeoutException timeout(IOException cause) {
        HttpTimeoutException timeout = new HttpTimeoutException("no data from upstream for " + format(watch.idle()));
        timeout.initCause(cause);
        return timeout;
    }

    private static String format(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}
