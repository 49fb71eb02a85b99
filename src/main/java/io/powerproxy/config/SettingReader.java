package io.powerproxy.config;

import static io.powerproxy.config.ConfigProblems.abbreviate;
import static io.powerproxy.config.ConfigProblems.child;
import static io.powerproxy.config.ConfigProblems.kind;

import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.DoublePredicate;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the settings of plain YAML mappings as the types they must have (text, true or false, number, seconds,
 * mapping, list, list of mappings), adding a problem with its config path for each that does not fit.
 */
final class SettingReader {

    // Warnings about the config are logged under the loader's name, whichever class finds them.
    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);

    private final ConfigProblems problems;

    SettingReader(ConfigProblems problems) {
        this.problems = problems;
    }

    /** Builds one config record from a mapping in a list. */
    @FunctionalInterface
    interface ItemBuilder<T> {
        T build(Map<String, Object> mapping, String path, int index);
    }

    /** Builds one config record from a mapping in a list, once its name has been checked. */
    @FunctionalInterface
    interface NamedItemBuilder<T> {
        T build(String name, Map<String, Object> mapping, String path, int index);
    }

    /** Builds every item of a list that is a mapping, in order; any other item is a problem and is left out. */
    <T> List<T> mappings(List<Object> items, String listPath, ItemBuilder<T> builder) {
        List<T> built = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            String path = listPath + "[" + i + "]";
            Map<String, Object> mapping = mappingAt(items.get(i), path);
            if (mapping != null) {
                built.add(builder.build(mapping, path, i));
            }
        }
        return built;
    }

    /**
     * Builds every mapping of a list of named items: unknown keys are warned about, and each name is required and
     * must be unique within the list ({@code uniqueRule} says so in the problem).
     */
    <T> List<T> namedMappings(List<Object> items, String listPath, Set<String> knownKeys, String uniqueRule,
            NamedItemBuilder<T> builder) {
        Map<String, String> pathsByName = new HashMap<>();
        return mappings(items, listPath, (mapping, path, index) -> {
            warnUnknownKeys(mapping, path, knownKeys);
            String name = uniqueName(mapping, path, pathsByName, uniqueRule);
            return builder.build(name, mapping, path, index);
        });
    }

    String text(Map<String, Object> map, String key, String parentPath, boolean required) {
        String path = child(parentPath, key);
        Object value = present(map, key, path, required);
        return value == null ? null : asText(value, path);
    }

    /** Numbers and booleans are accepted where text is expected, as written: {@code key: 1234} is "1234". */
    String asText(Object value, String path) {
        if (value instanceof String text) {
            return text;
        }
        if (value instanceof Number || value instanceof Boolean) {
            return problems.asWritten(value, path);
        }
        problems.add(path + " must be a string, got " + problems.shown(value, path));
        return null;
    }

    String requiredName(Map<String, Object> map, String parentPath) {
        String name = text(map, "name", parentPath, true);
        if (name != null && name.isBlank()) {
            problems.add(parentPath + ".name must not be blank");
        }
        return name;
    }

    /** The required name, which must not be taken by an earlier item ({@code rule} says among which). */
    String uniqueName(Map<String, Object> map, String path, Map<String, String> pathsByName, String rule) {
        String name = requiredName(map, path);
        checkUnique(pathsByName, name, path, "name", rule);
        return name;
    }

    /** Remembers the path of each value; a value seen before is a problem naming both paths. */
    void checkUnique(Map<String, String> pathsByValue, String value, String path, String key, String rule) {
        if (value == null || problems.isPlaceholder(path + "." + key)) {
            return;
        }
        String first = pathsByValue.putIfAbsent(value, path);
        if (first != null) {
            problems.add(path + "." + key + " '" + abbreviate(value) + "' is the same as " + first + "." + key + ": "
                    + rule);
        }
    }

    boolean bool(Map<String, Object> map, String key, String parentPath) {
        return fitting(map, key, parentPath, value -> value instanceof Boolean, "true or false") instanceof Boolean flag
                && flag;
    }

    double decimal(Map<String, Object> map, String key, String parentPath, double fallback, DoublePredicate valid,
            String expected) {
        Object value = fitting(map, key, parentPath, v -> v instanceof Number number
                && Double.isFinite(number.doubleValue()) && valid.test(number.doubleValue()), expected);
        return value instanceof Number number ? number.doubleValue() : fallback;
    }

    int whole(Map<String, Object> map, String key, String parentPath, int fallback, int min, String expected) {
        Object value = fitting(map, key, parentPath, v -> v instanceof Number number && isInt(number)
                && number.intValue() >= min, expected);
        return value instanceof Number number ? number.intValue() : fallback;
    }

    /** A number of seconds, rounded to milliseconds; a positive one is at least 1 ms. */
    Duration seconds(Map<String, Object> map, String key, String parentPath, Duration fallback, boolean positive) {
        double seconds = decimal(map, key, parentPath, Double.NaN, positive ? d -> d > 0 : d -> d >= 0,
                positive ? "a positive number of seconds" : "a number of seconds of at least 0");
        if (Double.isNaN(seconds)) {
            return fallback;
        }
        long millis = Math.round(seconds * 1000);
        return Duration.ofMillis(positive ? Math.max(1, millis) : millis);
    }

    Map<String, Object> mapping(Map<String, Object> map, String key, String parentPath) {
        Object value = map.get(key);
        return value == null ? null : mappingAt(value, child(parentPath, key));
    }

    Map<String, Object> mappingAt(Object value, String path) {
        if (value instanceof Map<?, ?>) {
            return asMap(value);
        }
        if (!problems.isPlaceholder(path)) {
            problems.add(path + " must be a mapping (key: value lines), got " + kind(value));
        }
        return null;
    }

    List<Object> list(Map<String, Object> map, String key, String parentPath, boolean required) {
        String path = child(parentPath, key);
        Object value = present(map, key, path, required);
        if (value == null) {
            return null;
        }
        if (value instanceof List<?> items) {
            return Collections.unmodifiableList(items);
        }
        if (!problems.isPlaceholder(path)) {
            problems.add(path + " must be a list (lines starting with '- '), got " + kind(value));
        }
        return null;
    }

    /** A required list that must hold at least one {@code what}. */
    List<Object> nonEmptyList(Map<String, Object> map, String key, String parentPath, String what) {
        List<Object> items = list(map, key, parentPath, true);
        if (items != null && items.isEmpty()) {
            problems.add(child(parentPath, key) + " must list at least one " + what);
        }
        return items;
    }

    /** Logs a warning for each key that is not {@code known}: unknown keys are ignored, not problems. */
    void warnUnknownKeys(Map<String, Object> map, String path, Set<String> known) {
        for (String key : map.keySet()) {
            if (!known.contains(key)) {
                LOG.warn("Config key {} is unknown and ignored", child(path, key));
            }
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> asMap(Object value) {
        return (Map<String, Object>) value;
    }

    /** The value, or null when it is missing, which is a problem when it is required. */
    private Object present(Map<String, Object> map, String key, String path, boolean required) {
        Object value = map.get(key);
        if (value == null && required) {
            problems.add(path + " is required");
        }
        return value;
    }

    /** The value if it is there, no placeholder, and fits; null otherwise, with a problem when it does not fit. */
    private Object fitting(Map<String, Object> map, String key, String parentPath, Predicate<Object> fits,
            String expected) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null || problems.isPlaceholder(path)) {
            return null;
        }
        if (fits.test(value)) {
            return value;
        }
        problems.add(path + " must be " + expected + ", got " + problems.shown(value, path));
        return null;
    }

    private static boolean isInt(Number number) {
        if (number instanceof Integer) {
            return true;
        }
        if (number instanceof Long || number instanceof BigInteger) {
            return BigInteger.valueOf(number.intValue()).equals(new BigInteger(number.toString()));
        }
        double d = number.doubleValue();
        return d == Math.rint(d) && d >= Integer.MIN_VALUE && d <= Integer.MAX_VALUE;
    }
}
