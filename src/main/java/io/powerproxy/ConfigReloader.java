package io.powerproxy;

import io.powerproxy.config.ConfigDiff;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ConfigSource;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.upstream.TokenSource;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reloads the config file while the proxy runs (README "Changing the config while it runs"): it reads the file every
 * {@code pollEvery}, and at once on {@link #reloadSoon()} (SIGHUP); a text that differs from the last one it saw is
 * validated in full and, when valid, swapped in for new requests; an invalid one changes nothing and is logged with
 * the messages {@code --validate} prints.
 *
 * <p>It reads the file's text rather than watching the file: a Kubernetes ConfigMap volume changes a file by swapping
 * a {@code ..data} symlink two levels up, which a watch on the file or its folder does not see, and reading a few KB
 * once a second costs nothing.
 */
final class ConfigReloader implements AutoCloseable {

    /** How long the text must stay the same before it is read as a config: a burst of writes is one change. */
    static final Duration SETTLE = Duration.ofMillis(250);

    private static final Logger LOG = LoggerFactory.getLogger(ConfigReloader.class);

    /** Told of each reload's outcome, e.g. by the metrics. */
    interface Listener {

        /** A reloaded config was swapped in (not called for the config of the start). */
        default void applied(ProxyConfig config) {
        }

        /** A changed file was not valid (or could not be read); the running config stays. */
        default void rejected(List<String> problems) {
        }

        /** A listener from two callbacks. */
        static Listener of(Consumer<ProxyConfig> applied, Consumer<List<String>> rejected) {
            return new Listener() {
                @Override
                public void applied(ProxyConfig config) {
                    applied.accept(config);
                }

                @Override
                public void rejected(List<String> problems) {
                    rejected.accept(problems);
                }
            };
        }
    }

    /** What a look at the file found. */
    enum Outcome { UNCHANGED, APPLIED, REJECTED }

    private final String file;
    private final PluginRegistry registry;
    private final ProxyServer server;
    private final Function<ProxyConfig, TokenSource> tokens;
    private final Listener listener;
    private final Duration pollEvery;
    private final Semaphore wake = new Semaphore(0);
    private final Thread thread;
    /** The text last read as a config, valid or not; only the reloader's thread touches it. */
    private String lastSeen;
    /** The text of the config being served. */
    private String applied;
    private volatile boolean closed;

    private ConfigReloader(String file, String text, PluginRegistry registry, ProxyServer server,
            Function<ProxyConfig, TokenSource> tokens, Listener listener, Duration pollEvery) {
        this.file = file;
        this.lastSeen = text;
        this.applied = text;
        this.registry = registry;
        this.server = server;
        this.tokens = tokens;
        this.listener = listener;
        this.pollEvery = pollEvery;
        this.thread = Thread.ofVirtual().name("powerproxy-config-reload").unstarted(this::run);
    }

    /**
     * Starts watching {@code file}, whose text {@code text} the server runs with now.
     *
     * @param tokens the Entra ID token source for a config (null when every endpoint has a key)
     * @param pollEvery how often the file is read; zero reads it only on {@link #reloadSoon()}
     */
    static ConfigReloader start(String file, String text, PluginRegistry registry, ProxyServer server,
            Function<ProxyConfig, TokenSource> tokens, Listener listener, Duration pollEvery) {
        if (pollEvery.isNegative()) {
            throw new IllegalArgumentException("pollEvery must not be negative: " + pollEvery);
        }
        ConfigReloader reloader = new ConfigReloader(Objects.requireNonNull(file), text, registry, server, tokens,
                listener, pollEvery);
        reloader.thread.start();
        return reloader;
    }

    /** Reads the file at once (SIGHUP): a text seen before but rejected is tried again. */
    void reloadSoon() {
        wake.release();
    }

    private void run() {
        while (!closed) {
            try {
                boolean asked = pollEvery.isZero() ? acquireWake() : wake.tryAcquire(pollEvery.toNanos(),
                        TimeUnit.NANOSECONDS);
                wake.drainPermits();
                if (!closed) {
                    check(asked);
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                // A bug must not end the watching: the next change is tried again.
                LOG.error("config reload from {} failed", file, e);
            }
        }
    }

    private boolean acquireWake() throws InterruptedException {
        wake.acquire();
        return true;
    }

    /**
     * Reads the file and, when its text changed, reloads it; {@code asked} (SIGHUP) tries a text again that was
     * rejected before.
     */
    Outcome check(boolean asked) throws InterruptedException {
        String text;
        try {
            text = settledText();
        } catch (ConfigException e) {
            // Told once, not once a second, until the file changes or SIGHUP asks again.
            String unreadable = "\0" + e.problems();
            if (asked || !unreadable.equals(lastSeen)) {
                lastSeen = unreadable;
                reject(e.problems());
            }
            return Outcome.REJECTED;
        }
        if (text.equals(applied)) {
            lastSeen = text;
            if (asked) {
                LOG.info("config reload from {}: the file has not changed", file);
            }
            return Outcome.UNCHANGED;
        }
        if (text.equals(lastSeen) && !asked) {
            return Outcome.UNCHANGED;
        }
        lastSeen = text;
        return reload(text);
    }

    /** The file's text once it has stayed the same for {@link #SETTLE}. */
    private String settledText() throws ConfigException, InterruptedException {
        String text = ConfigSource.readFileAgain(file).yaml();
        if (text.equals(lastSeen) || text.equals(applied)) {
            return text;
        }
        while (true) {
            Thread.sleep(SETTLE);
            String again = ConfigSource.readFileAgain(file).yaml();
            if (again.equals(text)) {
                return text;
            }
            text = again;
        }
    }

    private Outcome reload(String text) {
        long started = System.nanoTime();
        ProxyConfig running = server.config();
        ProxyConfig next;
        Pipeline pipeline;
        try {
            next = ConfigLoader.parse(text);
            pipeline = registry.reloadPipeline(running, server.pipeline(), next, server.metrics());
        } catch (ConfigException e) {
            reject(e.problems());
            return Outcome.REJECTED;
        } catch (RuntimeException | LinkageError e) {
            // A plugin's factory failed in a way it should not (a bug, or a third-party jar built for another API).
            LOG.error("config reload from {}: creating the new config's plugins failed, so the running config stays",
                    file, e);
            listener.rejected(List.of("creating the plugins failed: " + e));
            return Outcome.REJECTED;
        }
        ProxyServer.restartOnly(running, next).forEach(note -> LOG.warn("config reload from {}: {}", file, note));
        try {
            server.apply(next, pipeline, tokens.apply(next));
        } catch (IllegalStateException stopped) {
            // The proxy is stopping: the plugins made for this config were never used.
            pipeline.closeAllBut(new java.util.HashSet<>(server.pipeline().plugins()));
            return Outcome.UNCHANGED;
        }
        applied = text;
        String diff = ConfigDiff.between(running, next).describe();
        LOG.info("config reloaded from {} in {} ms: {}", file, (System.nanoTime() - started) / 1_000_000,
                diff.isEmpty() ? "nothing that requests see changed" : diff);
        listener.applied(next);
        return Outcome.APPLIED;
    }

    private void reject(List<String> problems) {
        LOG.error("config reload from {}: the file is not a valid config, so the running config stays; {} problem{}:",
                file, problems.size(), problems.size() == 1 ? "" : "s");
        problems.forEach(problem -> LOG.error("  - {}", problem));
        listener.rejected(problems);
    }

    /** Stops watching; a reload under way completes. */
    @Override
    public void close() {
        closed = true;
        wake.release();
        try {
            thread.join(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
