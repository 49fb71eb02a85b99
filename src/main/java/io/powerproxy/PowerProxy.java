package io.powerproxy;

import com.azure.core.credential.TokenCredential;
import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import io.powerproxy.affinity.ObjectAffinity;
import io.powerproxy.budgets.RedisBulletin;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ConfigSource;
import io.powerproxy.config.ConfigSummary;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.logging.LogFormat;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.PluginJars;
import io.powerproxy.plugins.AllowDeployments;
import io.powerproxy.plugins.CapMaxTokens;
import io.powerproxy.plugins.LimitUsage;
import io.powerproxy.plugins.LogUsageToConsole;
import io.powerproxy.plugins.LogUsageToCsvFile;
import io.powerproxy.plugins.LogUsageToLogAnalytics;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.server.TlsFiles;
import io.powerproxy.upstream.CachedTokenSource;
import io.powerproxy.upstream.TokenSource;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The command line: reads the arguments and the config, wires the parts by their constructors, starts, stops. */
public final class PowerProxy {

    static final int EXIT_INVALID_CONFIG = 1;
    static final int EXIT_USAGE = 2;

    private static final String USAGE = """
            usage: java -jar powerproxy.jar [--config-file PATH | --config-env-var NAME] [--port N] [--host ADDRESS]
                                            [--shutdown-grace SECONDS] [--tls-cert PATH --tls-key PATH] [--validate]
              --config-file PATH     read the YAML config from a file
              --config-env-var NAME  read the YAML config from this environment variable
                                     (without either, from POWERPROXY_CONFIG_STRING)
              --port N               port to listen on (default 8080)
              --host ADDRESS         address to listen on (default 0.0.0.0)
              --shutdown-grace S     on SIGTERM, wait at most S seconds (0 to 3600) for requests in flight
                                     (default 25, or POWERPROXY_SHUTDOWN_GRACE)
              --validate             check the config and exit: 0 when valid, 1 with every problem listed
            A config file is read again every second (POWERPROXY_CONFIG_POLL_SECONDS; 0: only on SIGHUP)
            and on SIGHUP; a valid change applies to new requests without a restart.
              --tls-cert PATH        speak HTTPS (TLS 1.2/1.3) with this PEM certificate chain, leaf first
              --tls-key PATH         and this PEM private key (PKCS#8, or PKCS#1 RSA); both re-read on change
            """;

    private PowerProxy() {
    }

    public static void main(String[] args) {
        // First of all: the JDK reads the carrier-thread count when the first virtual thread starts.
        String carrierWarning = CarrierThreads.applyToThisRuntime();
        if (carrierWarning != null) {
            LoggerFactory.getLogger(PowerProxy.class).warn(carrierWarning);
        }
        System.exit(run(args, System.getenv(), System.out, System.err));
    }

    /** Runs the command line; returns the exit code, or blocks until shutdown when the proxy started. */
    static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
        Arguments arguments;
        Duration shutdownGrace;
        Duration configPoll;
        boolean metricsNeedClientKey;
        try {
            arguments = Arguments.parse(args);
            shutdownGrace = arguments.shutdownGrace(env);
            configPoll = Arguments.configPoll(env);
            metricsNeedClientKey = ProxyMetrics.scrapeNeedsClientKey(env);
            // Logback has read it already; an unknown value would leave it without an appender, so no line at all.
            LogFormat.configured(env);
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.print(USAGE);
            return EXIT_USAGE;
        }
        if (arguments.help()) {
            out.print(USAGE);
            return 0;
        }
        Optional<ConfigSource.ConfigText> text;
        try {
            text = ConfigSource.resolve(arguments.configFile(), arguments.configEnvVar(), env);
        } catch (ConfigException e) {
            err.println("error: " + e.getMessage());
            return EXIT_USAGE;
        }
        if (text.isEmpty()) {
            err.println("error: " + ConfigSource.NO_CONFIG_MESSAGE);
            err.print(USAGE);
            return EXIT_USAGE;
        }
        ProxyConfig config;
        Pipeline pipeline;
        PluginRegistry registry;
        ProxyMetrics metrics;
        try {
            config = ConfigLoader.parse(text.get().yaml());
            // Before any plugin builds an HttpClient (LogUsageToLogAnalytics does): the JDK reads these only once.
            ProxyServer.useJdkDefaults(config);
            metrics = ProxyMetrics.create(config, metricsNeedClientKey);
            registry = pluginRegistry(env);
            pipeline = registry.createPipeline(config, metrics);
            checkObjectAffinity(config, pipeline);
            try {
                RedisBulletin.settings(config.aoai().headroom());
            } catch (ConfigException e) {
                pipeline.close();
                throw e;
            }
        } catch (ConfigException e) {
            err.println("The configuration from " + text.get().origin() + " is not valid:");
            e.problems().forEach(problem -> err.println("  - " + problem));
            return EXIT_INVALID_CONFIG;
        }
        if (arguments.validate()) {
            pipeline.close();
            out.println("The configuration from " + text.get().origin() + " is valid.");
            return 0;
        }
        return serve(config, arguments, shutdownGrace, text.get(), registry, pipeline, metrics, configPoll, out);
    }

    /** Its {@code redis:} settings are checked with the rest of the config, so that {@code --validate} reports them. */
    private static void checkObjectAffinity(ProxyConfig config, Pipeline pipeline) throws ConfigException {
        try {
            ObjectAffinity.redisSettings(config.aoai().objectAffinity());
        } catch (ConfigException e) {
            pipeline.close();
            throw e;
        }
    }

    private static int serve(ProxyConfig config, Arguments arguments, Duration shutdownGrace,
            ConfigSource.ConfigText text, PluginRegistry registry, Pipeline pipeline, ProxyMetrics metrics,
            Duration configPoll, PrintStream out) {
        String origin = text.origin();
        Logger log = LoggerFactory.getLogger(PowerProxy.class);
        long started = System.nanoTime();
        String banner = "PowerProxy for Azure OpenAI " + version() + " (Java " + Runtime.version() + ")\n"
                + "configuration from " + origin + ":\n" + ConfigSummary.describe(config);
        if (LogFormat.configured(System.getenv()) == LogFormat.JSON) {
            // Every line on stdout is then one JSON object: the banner is one event, its line breaks escaped.
            log.info("{}", banner);
        } else {
            out.println(banner);
        }
        ProxyServer server;
        TokenSources tokens = new TokenSources();
        try {
            server = ProxyServer.start(config, new InetSocketAddress(arguments.host(), arguments.port()),
                    tokens.forConfig(config), pipeline, () -> System.nanoTime() / 1_000_000, tlsFiles(arguments), metrics);
        } catch (IOException e) {
            log.error("cannot listen on {}:{}: {}", arguments.host(), arguments.port(), e.toString());
            pipeline.close();
            return 1;
        } catch (IllegalArgumentException e) {
            // A -D setting of the proxy's own with a value it cannot use.
            log.error("cannot start: {}", e.getMessage());
            pipeline.close();
            return EXIT_USAGE;
        }
        CountDownLatch stopRequested = new CountDownLatch(1);
        onSignals(stopRequested::countDown);
        ConfigReloader reloader = null;
        if (arguments.configFile() != null) {
            reloader = ConfigReloader.start(arguments.configFile(), text.yaml(), registry, server, tokens::forConfig,
                    ConfigReloader.Listener.of(applied -> {
                        metrics.configApplied(applied);
                        metrics.reloadApplied();
                    }, problems -> metrics.reloadRejected()), configPoll);
            onSignal("HUP", reloader::reloadSoon);
            log.info("config reload: the {} is read again {}", origin, configPoll.isZero() ? "on SIGHUP only"
                    : "every " + configPoll.toSeconds() + " s and on SIGHUP");
        } else {
            onSignal("HUP", () -> log.warn("SIGHUP: the config comes from the {}, which cannot change while the"
                    + " process runs; nothing is reloaded", origin));
            log.info("config reload is off: the config comes from the {}, which cannot change while the process"
                    + " runs (use --config-file to reload without a restart)", origin);
        }
        // An OutOfMemoryError in a thread that nobody catches errors of (the server's dispatcher, a plugin's) is logged
        // and makes liveness fail.
        Thread.setDefaultUncaughtExceptionHandler(server.liveness());
        // Any other way the JVM ends (System.exit elsewhere) still stops the server gracefully.
        Thread hook = new Thread(() -> server.stop(shutdownGrace), "powerproxy-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        log.info("ready on port {} ({} ms since the process started)", server.port(), millisSinceProcessStart(started));
        try {
            stopRequested.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long stopping = System.nanoTime();
        log.info("stopping: waiting up to {} s for {} requests in flight", shutdownGrace.toSeconds(),
                server.requestsInFlight());
        Runtime.getRuntime().removeShutdownHook(hook);
        if (reloader != null) {
            reloader.close();
        }
        server.stop(shutdownGrace);
        log.info("stopped ({} ms after the signal)", (System.nanoTime() - stopping) / 1_000_000);
        return 0;
    }

    private static TlsFiles tlsFiles(Arguments arguments) {
        return arguments.tlsCert() == null ? null : new TlsFiles(Path.of(arguments.tlsCert()), Path.of(arguments.tlsKey()));
    }

    /** Milliseconds since the process started, or since {@code fallbackNanos} when the OS does not tell. */
    private static long millisSinceProcessStart(long fallbackNanos) {
        return ProcessHandle.current().info().startInstant()
                .map(start -> java.time.Duration.between(start, java.time.Instant.now()).toMillis())
                .orElse((System.nanoTime() - fallbackNanos) / 1_000_000);
    }

    /**
     * Handles SIGTERM and SIGINT itself, so that a graceful stop ends with exit code 0 (README "Stopping (SIGTERM,
     * Ctrl+C)") rather than the JVM's 143 for a signal.
     */
    private static void onSignals(Runnable stop) {
        for (String name : List.of("TERM", "INT")) {
            onSignal(name, stop);
        }
    }

    @SuppressWarnings("restriction")
    private static void onSignal(String name, Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> action.run());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            LoggerFactory.getLogger(PowerProxy.class).warn("cannot handle SIG{}: {}", name, e.toString());
        }
    }

    /** Built-in plugins plus those of the jars in the plugins folder (see {@link #pluginsFolder}). */
    static PluginRegistry pluginRegistry(Map<String, String> env) {
        List<PluginFactory> builtIns = List.of(
                AllowDeployments.factory(),
                CapMaxTokens.factory(),
                LimitUsage.factory(),
                LogUsageToConsole.factory(),
                LogUsageToCsvFile.factory(),
                LogUsageToLogAnalytics.factory());
        Path folder = pluginsFolder(env);
        List<Path> jars = PluginJars.jars(folder);
        if (!jars.isEmpty()) {
            LoggerFactory.getLogger(PowerProxy.class).info("plugin jars from {}: {}", folder, jars);
        }
        return PluginRegistry.create(builtIns, PluginJars.classLoader(folder, PowerProxy.class.getClassLoader()));
    }

    /**
     * Where third-party plugin jars are: {@code POWERPROXY_PLUGINS_DIR} when set, else the {@code plugins} folder
     * beside the proxy's jar (or in the working directory when the proxy runs from classes).
     */
    static Path pluginsFolder(Map<String, String> env) {
        String configured = env.get("POWERPROXY_PLUGINS_DIR");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        try {
            Path code = Path.of(PowerProxy.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(code)) {
                return code.toAbsolutePath().getParent().resolve("plugins");
            }
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            // Fall back to the working directory.
        }
        return Path.of("plugins");
    }

    /**
     * Entra ID tokens for endpoints without a key: the user-assigned managed identity when configured, else
     * DefaultAzureCredential; null when every endpoint has a key. A reloaded config with the same identity keeps
     * the source, and so its cached token.
     */
    private static final class TokenSources {
        private String clientId;
        private TokenSource source;

        /** Called by one thread at a time: at the start, then by the config reloader. */
        TokenSource forConfig(ProxyConfig config) {
            TokenCredential credential = credentialFor(config);
            if (credential == null) {
                return null;
            }
            if (source == null || !Objects.equals(clientId, config.userAssignedManagedIdentityClientId())) {
                clientId = config.userAssignedManagedIdentityClientId();
                source = CachedTokenSource.of(credential);
            }
            return source;
        }
    }

    /**
     * The credential {@link #tokenSource} draws its tokens from, or null when every endpoint has a key; building it
     * fetches no token.
     */
    static TokenCredential credentialFor(ProxyConfig config) {
        boolean needed = config.aoai().endpoints().stream().anyMatch(e -> e.key() == null);
        if (!needed) {
            return null;
        }
        String clientId = config.userAssignedManagedIdentityClientId();
        return clientId != null
                ? new ManagedIdentityCredentialBuilder().clientId(clientId).build()
                : new DefaultAzureCredentialBuilder().build();
    }

    private static String version() {
        String version = PowerProxy.class.getPackage().getImplementationVersion();
        return version == null ? "(development build)" : version;
    }
}
