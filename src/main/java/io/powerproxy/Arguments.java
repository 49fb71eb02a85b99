package io.powerproxy;

import java.time.Duration;

/**
 * The parsed command line (README "Command line"), compatible with the Python original's options.
 *
 * @param configFile the {@code --config-file} path, or null
 * @param configEnvVar the {@code --config-env-var} name, or null
 * @param host the address to listen on
 * @param port the port to listen on
 * @param validate whether to only check the config
 * @param help whether to print the usage
 * @param shutdownGrace the {@code --shutdown-grace} period, or null when not given
 * @param tlsCert the {@code --tls-cert} PEM file (HTTPS when given), or null
 * @param tlsKey the {@code --tls-key} PEM file, or null
 */
record Arguments(String configFile, String configEnvVar, String host, int port, boolean validate, boolean help,
        Duration shutdownGrace, String tlsCert, String tlsKey) {

    static final int DEFAULT_PORT = 8080;
    /** Below Kubernetes' default termination grace (30 s), leaving time to flush the usage sinks. */
    static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(25);
    static final String SHUTDOWN_GRACE_ENV = "POWERPROXY_SHUTDOWN_GRACE";
    /** Reading a small file once a second costs nothing, and an edit is live within about two seconds. */
    static final Duration DEFAULT_CONFIG_POLL = Duration.ofSeconds(1);
    static final String CONFIG_POLL_ENV = "POWERPROXY_CONFIG_POLL_SECONDS";
    static final int MAX_SHUTDOWN_GRACE_SECONDS = 3600;

    /** Parses the arguments; throws IllegalArgumentException with what is wrong. */
    static Arguments parse(String[] args) {
        String configFile = null;
        String configEnvVar = null;
        String host = "0.0.0.0";
        int port = DEFAULT_PORT;
        boolean validate = false;
        boolean help = false;
        Duration shutdownGrace = null;
        String tlsCert = null;
        String tlsKey = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--config-file" -> configFile = value(args, ++i, arg);
                case "--config-env-var" -> configEnvVar = value(args, ++i, arg);
                case "--host" -> host = value(args, ++i, arg);
                case "--port" -> port = port(value(args, ++i, arg));
                case "--shutdown-grace" -> shutdownGrace = shutdownGrace(value(args, ++i, arg), arg);
                case "--validate" -> validate = true;
                case "--help", "-h" -> help = true;
                case "--tls-cert" -> tlsCert = value(args, ++i, arg);
                case "--tls-key" -> tlsKey = value(args, ++i, arg);
                default -> throw new IllegalArgumentException("unknown argument '" + arg + "'");
            }
        }
        if (configFile != null && configEnvVar != null) {
            throw new IllegalArgumentException("give either --config-file or --config-env-var, not both");
        }
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new IllegalArgumentException("give both --tls-cert and --tls-key for HTTPS, or neither for HTTP");
        }
        return new Arguments(configFile, configEnvVar, host, port, validate, help, shutdownGrace, tlsCert, tlsKey);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length || args[i].startsWith("--")) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    /**
     * The grace period to use: {@code --shutdown-grace}, else the {@value #SHUTDOWN_GRACE_ENV} environment variable,
     * else {@link #DEFAULT_SHUTDOWN_GRACE}; throws IllegalArgumentException naming the setting when it is not valid.
     */
    Duration shutdownGrace(java.util.Map<String, String> env) {
        if (shutdownGrace != null) {
            return shutdownGrace;
        }
        String configured = env.get(SHUTDOWN_GRACE_ENV);
        return configured == null || configured.isBlank() ? DEFAULT_SHUTDOWN_GRACE
                : shutdownGrace(configured, "the environment variable " + SHUTDOWN_GRACE_ENV);
    }

    /**
     * How often a config file is read to see whether it changed: the {@value #CONFIG_POLL_ENV} environment variable
     * in whole seconds, 0 for only on SIGHUP; else {@link #DEFAULT_CONFIG_POLL}. Throws IllegalArgumentException
     * naming the variable when it is not valid.
     */
    static Duration configPoll(java.util.Map<String, String> env) {
        String configured = env.get(CONFIG_POLL_ENV);
        if (configured == null || configured.isBlank()) {
            return DEFAULT_CONFIG_POLL;
        }
        try {
            int seconds = Integer.parseInt(configured.strip());
            if (seconds < 0 || seconds > 3600) {
                throw new NumberFormatException();
            }
            return Duration.ofSeconds(seconds);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("the environment variable " + CONFIG_POLL_ENV + " must be a whole"
                    + " number of seconds from 0 (only on SIGHUP) to 3600, got '" + configured + "'");
        }
    }

    private static Duration shutdownGrace(String value, String setting) {
        try {
            int seconds = Integer.parseInt(value.strip());
            if (seconds < 0 || seconds > MAX_SHUTDOWN_GRACE_SECONDS) {
                throw new NumberFormatException();
            }
            return Duration.ofSeconds(seconds);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(setting + " must be a whole number of seconds from 0 to "
                    + MAX_SHUTDOWN_GRACE_SECONDS + ", got '" + value + "'");
        }
    }

    private static int port(String value) {
        try {
            int port = Integer.parseInt(value);
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--port must be a number from 0 to 65535, got '" + value + "'");
        }
    }
}
