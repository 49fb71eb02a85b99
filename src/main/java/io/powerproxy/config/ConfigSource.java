package io.powerproxy.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/** Finds the configuration's YAML text: a file, a named environment variable, or {@code POWERPROXY_CONFIG_STRING}. */
public final class ConfigSource {

    /** The environment variable read when neither {@code --config-file} nor {@code --config-env-var} is given. */
    public static final String DEFAULT_ENV_VAR = "POWERPROXY_CONFIG_STRING";

    /** What to tell a user who gave no configuration at all. */
    public static final String NO_CONFIG_MESSAGE = "no configuration given: pass --config-file PATH (a YAML file),"
            + " or --config-env-var NAME (an environment variable holding the YAML text),"
            + " or set the environment variable " + DEFAULT_ENV_VAR + " to the YAML text";

    /**
     * The configuration's YAML text and where it came from.
     *
     * @param yaml the YAML text
     * @param origin where it came from, for messages, e.g. {@code file /etc/powerproxy.yaml}
     */
    public record ConfigText(String yaml, String origin) {
    }

    private ConfigSource() {
    }

    /**
     * Reads the configuration from the file or environment variable the command line names, else from
     * {@code POWERPROXY_CONFIG_STRING}.
     *
     * @param configFile the {@code --config-file} argument, or null
     * @param configEnvVar the {@code --config-env-var} argument, or null
     * @param env the process environment
     * @return the text, or empty when no configuration was given in any of the three ways
     * @throws ConfigException when the named file or variable cannot be read or is empty
     */
    public static Optional<ConfigText> resolve(String configFile, String configEnvVar, Map<String, String> env)
            throws ConfigException {
        if (configFile != null && configEnvVar != null) {
            throw new ConfigException("give either --config-file or --config-env-var, not both");
        }
        if (configFile != null) {
            return Optional.of(readFile(configFile));
        }
        if (configEnvVar != null) {
            return Optional.of(readEnvVar(configEnvVar, env, "(named by --config-env-var) "));
        }
        String fallback = env.get(DEFAULT_ENV_VAR);
        if (fallback == null || fallback.isBlank()) {
            return Optional.empty();
        }
        return Optional.of(readEnvVar(DEFAULT_ENV_VAR, env, ""));
    }

    /**
     * Reads the configuration file again, for a reload, with the same checks as at the start.
     *
     * @throws ConfigException when the file cannot be read or is not UTF-8
     */
    public static ConfigText readFileAgain(String configFile) throws ConfigException {
        return readFile(configFile);
    }

    private static ConfigText readFile(String configFile) throws ConfigException {
        if (configFile.isBlank()) {
            throw new ConfigException("--config-file needs the path of a YAML file");
        }
        Path path;
        try {
            path = Path.of(configFile);
        } catch (InvalidPathException e) {
            throw new ConfigException("config file '" + configFile + "' is not a valid path: " + e.getReason());
        }
        Path absolute = path.toAbsolutePath().normalize();
        if (!Files.exists(path)) {
            throw new ConfigException("config file '" + configFile + "' does not exist (looked for " + absolute + ")");
        }
        if (!Files.isRegularFile(path)) {
            throw new ConfigException("config file '" + configFile + "' is not a regular file (" + absolute + ")");
        }
        try {
            return new ConfigText(withoutByteOrderMark(Files.readString(path, StandardCharsets.UTF_8)), "file " + absolute);
        } catch (CharacterCodingException e) {
            throw new ConfigException("config file '" + configFile + "' is not UTF-8 text (" + absolute + ")");
        } catch (IOException e) {
            throw new ConfigException("config file '" + configFile + "' cannot be read (" + absolute + "): " + e);
        }
    }

    private static ConfigText readEnvVar(String name, Map<String, String> env, String how) throws ConfigException {
        if (name.isBlank()) {
            throw new ConfigException("--config-env-var needs the name of an environment variable");
        }
        String value = env.get(name);
        if (value == null) {
            throw new ConfigException("environment variable " + name + " " + how + "is not set");
        }
        if (value.isBlank()) {
            throw new ConfigException("environment variable " + name + " " + how + "is empty");
        }
        return new ConfigText(withoutByteOrderMark(value), "environment variable " + name);
    }

    private static String withoutByteOrderMark(String text) {
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }
}
