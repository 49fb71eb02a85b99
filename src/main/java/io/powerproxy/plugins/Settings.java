package io.powerproxy.plugins;

import io.powerproxy.config.PluginConfig;
import java.util.List;
import java.util.Set;

/** Small checks of plugin settings shared by the built-in plugins, with the config path in every message. */
public final class Settings {

    private Settings() {
    }

    /** Adds a problem for every setting of the plugin entry that is not among the known ones. */
    public static void rejectUnknown(PluginConfig config, Set<String> known, List<String> problems) {
        for (String key : config.settings().keySet()) {
            if (!known.contains(key)) {
                problems.add(config.path() + "." + key + " is not a setting of " + config.name()
                        + (known.isEmpty() ? " (it has none)" : "; its settings are: " + String.join(", ", known)));
            }
        }
    }

    /** A positive or zero number, or null with a problem added. */
    static Double nonNegativeNumber(Object value, String path, List<String> problems) {
        if (value instanceof Number number && !(value instanceof Double d && (d.isNaN() || d.isInfinite()))
                && number.doubleValue() >= 0) {
            return number.doubleValue();
        }
        problems.add(path + " must be a number of 0 or more, got " + describe(value));
        return null;
    }

    public static String describe(Object value) {
        if (value == null) {
            return "nothing";
        }
        if (value instanceof String text) {
            return "'" + text + "'";
        }
        if (value instanceof java.util.Map) {
            return "a mapping";
        }
        if (value instanceof java.util.List) {
            return "a list";
        }
        return String.valueOf(value);
    }
}
