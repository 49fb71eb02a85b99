package io.powerproxy.config;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The problems found in one configuration, each starting with its config path, and what it takes to word them:
 * which paths are placeholders (reported already) and how each number or boolean was written.
 */
final class ConfigProblems {

    private final List<String> problems = new ArrayList<>();
    /** Paths of string values that are still placeholders; their own checks are skipped. */
    private final Set<String> placeholders = new HashSet<>();
    /** The source text of every number or boolean, so that {@code key: 0123} stays "0123". */
    private final Map<String, String> scalarTexts = new HashMap<>();

    void add(String problem) {
        problems.add(problem);
    }

    boolean isEmpty() {
        return problems.isEmpty();
    }

    /** Throws every problem found, in the order found; does nothing when there is none. */
    void throwIfAny() throws ConfigException {
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    void notePlaceholder(String path) {
        placeholders.add(path);
    }

    /** Whether the value at this path is a placeholder, which is reported already: skip its own checks. */
    boolean isPlaceholder(String path) {
        return placeholders.contains(path);
    }

    void noteScalarText(String path, String text) {
        scalarTexts.put(path, text);
    }

    /** A scalar as the YAML wrote it: {@code 0123} and {@code 1_000} stay as they are. */
    String asWritten(Object value, String path) {
        return scalarTexts.getOrDefault(path, String.valueOf(value));
    }

    /** Describes a value for a problem message: scalars quoted as written, unless the path suggests a secret. */
    String shown(Object value, String path) {
        if (value instanceof Map<?, ?> || value instanceof List<?> || isSecretPath(path)) {
            return kind(value);
        }
        String text = value instanceof String s ? s : asWritten(value, path);
        return "'" + abbreviate(text) + "'";
    }

    /** The kind of a value, never its content: the value may be a secret written in the wrong place. */
    static String kind(Object value) {
        return switch (value) {
            case null -> "nothing";
            case Map<?, ?> map -> "a mapping";
            case List<?> list -> "a list";
            case Number number -> "a number";
            case Boolean flag -> "true or false";
            default -> "a string";
        };
    }

    /** Whether any name along the path holds a secret, e.g. {@code aoai.endpoints[0].key}. */
    static boolean isSecretPath(String path) {
        for (String segment : path.split("\\.")) {
            if (ConfigLoader.isSecretName(segment.replaceAll("\\[\\d+]", ""))) {
                return true;
            }
        }
        return false;
    }

    static String abbreviate(String text) {
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }

    /** The path of a key within a mapping; the top level has the empty path. */
    static String child(String parentPath, String key) {
        return parentPath.isEmpty() ? key : parentPath + "." + key;
    }
}
