package io.powerproxy.server;

import io.powerproxy.upstream.UpstreamClient;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether this process can still serve, as {@code GET /powerproxy/health/liveness} reports it: not once an
 * {@link OutOfMemoryError} (or another error that leaves the JVM unusable) was thrown anywhere, nor while the upstream
 * client can no longer send. An orchestrator then restarts the process.
 */
public final class Liveness implements Thread.UncaughtExceptionHandler {

    private static final Logger LOG = LoggerFactory.getLogger(Liveness.class);

    private final UpstreamClient upstreamClient;
    private final AtomicReference<String> fatal = new AtomicReference<>();

    Liveness(UpstreamClient upstreamClient) {
        this.upstreamClient = upstreamClient;
    }

    /**
     * Takes note of an error that leaves the process unusable: logs the first one, with what was being done, and makes
     * liveness fail from then on. Returns false, and does nothing, for any other throwable; a
     * {@link StackOverflowError} is one of those, as it ends only the call that overflowed.
     *
     * @param doing what the process was doing, e.g. "handling request 1a2b POST /openai/..."
     */
    public boolean fatal(Throwable error, String doing) {
        if (!(error instanceof VirtualMachineError) || error instanceof StackOverflowError) {
            return false;
        }
        if (fatal.compareAndSet(null, error + " while " + doing)) {
            LOG.error("{} while {}: the process may be unusable from now on; GET /powerproxy/health/liveness answers"
                    + " 503 so that it is restarted", error, doing, error);
        }
        return true;
    }

    /** For threads whose errors nobody else catches (see {@link Thread#setDefaultUncaughtExceptionHandler}). */
    @Override
    public void uncaughtException(Thread thread, Throwable error) {
        if (!fatal(error, "running thread " + thread.getName())) {
            LOG.error("thread {} ended with an uncaught exception", thread.getName(), error);
        }
    }

    /** Why the process is not live; empty while it is. */
    List<String> problems() {
        List<String> problems = new ArrayList<>(2);
        String error = fatal.get();
        if (error != null) {
            problems.add(error);
        }
        String client = upstreamClient.brokenReason();
        if (client != null) {
            problems.add(client);
        }
        return problems;
    }
}
