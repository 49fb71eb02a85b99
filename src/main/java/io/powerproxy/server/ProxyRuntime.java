package io.powerproxy.server;

import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.upstream.UpstreamClient;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Everything built from one config that a request uses from its start to its end: the clients, the plugins, the
 * targets. A request takes the current one once ({@link Runtimes#acquire}) and releases it when it has ended, so a
 * config reload changes nothing under a request or stream in flight; a replaced runtime is closed when its last
 * request releases it.
 */
final class ProxyRuntime {

    private final ProxyConfig config;
    private final ClientIdentifier clients;
    private final Pipeline pipeline;
    private final Upstream upstream;
    private final UpstreamClient upstreamClient;
    private final AnswerRelay answers;
    private final Consumer<ProxyRuntime> drained;
    /** The requests holding it, plus one for being current. */
    private final AtomicInteger holders = new AtomicInteger(1);
    private final AtomicBoolean retired = new AtomicBoolean();

    ProxyRuntime(ProxyConfig config, ClientIdentifier clients, Pipeline pipeline, Upstream upstream,
            UpstreamClient upstreamClient, AnswerRelay answers, Consumer<ProxyRuntime> drained) {
        this.config = config;
        this.clients = clients;
        this.pipeline = pipeline;
        this.upstream = upstream;
        this.upstreamClient = upstreamClient;
        this.answers = answers;
        this.drained = drained;
    }

    ProxyConfig config() {
        return config;
    }

    ClientIdentifier clients() {
        return clients;
    }

    Pipeline pipeline() {
        return pipeline;
    }

    Upstream upstream() {
        return upstream;
    }

    UpstreamClient upstreamClient() {
        return upstreamClient;
    }

    AnswerRelay answers() {
        return answers;
    }

    /** Holds it for one more request; false when it has been released by all, and must not be used any more. */
    boolean tryAcquire() {
        while (true) {
            int count = holders.get();
            if (count == 0) {
                return false;
            }
            if (holders.compareAndSet(count, count + 1)) {
                return true;
            }
        }
    }

    /** A request that held it has ended; the last one hands it to be closed. */
    void release() {
        if (holders.decrementAndGet() == 0) {
            drained.accept(this);
        }
    }

    /** It is no longer current: it is closed as soon as no request holds it. */
    void retire() {
        if (retired.compareAndSet(false, true)) {
            release();
        }
    }
}
