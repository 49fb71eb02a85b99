package io.powerproxy.pipeline;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.Secrets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Reads a plugin's settings as the types they must have, with the config path in every problem, as the proxy's own
 * configuration is read ({@code plugins[2].header must be a string, got '42'}). Every getter returns its fallback
 * when the key is missing or wrong, and notes the problem; {@link #throwIfInvalid()} then reports them all at once,
 * together with every key of the plugin's entry that no getter asked for (a typo, most likely).
 *
 * <pre>{@code
 * PluginSettings settings = PluginSettings.of(context);
 * String header = settings.text("header", "x-user-id");
 * settings.throwIfInvalid();
 * }</pre>
 *
 * <p>{@link #client(ClientConfig)} reads settings a plugin defines for each client (their problems are reported
 * with the others; other keys there belong to other plugins and are not reported), {@link #mapping(String)} a
 * nested mapping. Used while the plugin is created, by one thread.
 */
public final class PluginSettings {

    private final String owner;
    private final String path;
    private final Map<String, Object> values;
    /** Whether keys that nobody asked for are problems: yes in the plugin's own entry and in its nested mappings. */
    private final boolean ownsEveryKey;
    private final Set<String> asked = new LinkedHashSet<>();
    private final List<String> problems;
    private final List<PluginSettings> owned;

    private PluginSettings(String owner, String path, Map<String, Object> values, boolean ownsEveryKey,
            List<String> problems, List<PluginSettings> owned) {
        this.owner = owner;
        this.path = path;
        this.values = values;
        this.ownsEveryKey = ownsEveryKey;
        this.problems = problems;
        this.owned = owned;
        if (ownsEveryKey) {
            owned.add(this);
        }
    }

    /** A reader of the plugin's own entry of {@code plugins[]}. */
    public static PluginSettings of(PluginContext context) {
        return new PluginSettings(context.settings().name(), context.settings().path(), context.settings().settings(),
                true, new ArrayList<>(), new ArrayList<>());
    }

    /** A reader of a client's settings, e.g. a key the plugin defines for each client; problems go to this reader's. */
    public PluginSettings client(ClientConfig client) {
        return new PluginSettings(owner, client.path(), client.settings(), false, problems, owned);
    }

    /**
     * A reader of a nested mapping, whose keys all belong to the plugin; null when the key is missing, or when its
     * value is not a mapping (a problem).
     */
    public PluginSettings mapping(String key) {
        Object value = value(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Map<?, ?> map)) {
            wrong(key, "a mapping (key: value lines)", value);
            return null;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> mapping = (Map<String, Object>) map;
        return new PluginSettings(owner, path(key), mapping, true, problems, owned);
    }

    /** The keys of this mapping, in the order written; none of them counts as asked for. */
    public Set<String> keys() {
        return values.keySet();
    }

    /** Whether the key is there (asking counts: the key is a setting of the plugin). */
    public boolean has(String key) {
        return value(key) != null;
    }

    /** The value as written (a String, Number, Boolean, List or Map), or null when missing. */
    public Object value(String key) {
        asked.add(key);
        return values.get(key);
    }

    /** A string; numbers and booleans are not taken as text, so that {@code header: 42} is reported. */
    public String text(String key, String fallback) {
        Object value = value(key);
        if (value == null) {
            return fallback;
        }
        if (value instanceof String text) {
            if (text.isBlank()) {
                problem(key, "must not be blank");
                return fallback;
            }
            return text;
        }
        wrong(key, "a string", value);
        return fallback;
    }

    public boolean bool(String key, boolean fallback) {
        Object value = value(key);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Boolean flag) {
            return flag;
        }
        wrong(key, "true or false", value);
        return fallback;
    }

    /** A whole number of at least {@code min}. */
    public long wholeNumber(String key, long fallback, long min) {
        Object value = value(key);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Number number && isWhole(number) && number.longValue() >= min) {
            return number.longValue();
        }
        wrong(key, "a whole number of at least " + min, value);
        return fallback;
    }

    /** A number of at least {@code min}. */
    public double number(String key, double fallback, double min) {
        Object value = value(key);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Number number && Double.isFinite(number.doubleValue()) && number.doubleValue() >= min) {
            return number.doubleValue();
        }
        wrong(key, "a number of at least " + (min == Math.rint(min) ? Long.toString((long) min) : min), value);
        return fallback;
    }

    /**
     * One of an enum's constants, written in lower case ({@code over_cap: reject} for {@code REJECT}); the problem
     * lists the choices.
     */
    public <E extends Enum<E>> E choice(String key, E fallback) {
        Object value = value(key);
        if (value == null) {
            return fallback;
        }
        for (E constant : fallback.getDeclaringClass().getEnumConstants()) {
            if (constant.name().toLowerCase(Locale.ROOT).equals(value)) {
                return constant;
            }
        }
        wrong(key, "one of " + Arrays.stream(fallback.getDeclaringClass().getEnumConstants())
                .map(constant -> constant.name().toLowerCase(Locale.ROOT)).collect(Collectors.joining(", ")), value);
        return fallback;
    }

    /** Notes a problem of a key: {@code problem("header", "must be a header name")}. */
    public void problem(String key, String message) {
        problems.add(path(key) + " " + message);
    }

    /** The config path of a key of this mapping, e.g. {@code plugins[2].header}. */
    public String path(String key) {
        return path + "." + key;
    }

    /**
     * Throws every problem noted so far, and one for each key of the plugin's entry (or of its nested mappings) that
     * no getter asked for; does nothing when there is none.
     */
    public void throwIfInvalid() throws ConfigException {
        List<String> all = new ArrayList<>(problems);
        for (PluginSettings settings : owned) {
            for (String key : settings.values.keySet()) {
                if (!settings.asked.contains(key)) {
                    all.add(settings.path(key) + " is not a setting of " + owner + (settings.asked.isEmpty()
                            ? " (it has none here)" : "; its settings here are: " + String.join(", ", settings.asked)));
                }
            }
        }
        if (!all.isEmpty()) {
            throw new ConfigException(all);
        }
    }

    private void wrong(String key, String expected, Object value) {
        problem(key, "must be " + expected + ", got " + shown(key, value));
    }

    /** Scalars quoted as written, unless the key names a secret; the kind of anything else. */
    private static String shown(String key, Object value) {
        return switch (value) {
            case Map<?, ?> map -> "a mapping";
            case List<?> list -> "a list";
            default -> Secrets.isSecretName(key) ? "a " + (value instanceof String ? "string" : "value")
                    : "'" + value + "'";
        };
    }

    private static boolean isWhole(Number number) {
        if (number instanceof Integer || number instanceof Long || number instanceof Short || number instanceof Byte) {
            return true;
        }
        double d = number.doubleValue();
        return d == Math.rint(d) && Math.abs(d) < 0x1p53;
    }
}
