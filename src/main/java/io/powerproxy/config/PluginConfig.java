package io.powerproxy.config;

import java.util.Map;

/**
 * One entry of {@code plugins[]}: the plugin's name and all of its own settings.
 *
 * @param name the plugin's name, e.g. {@code LimitUsage}
 * @param settings every key of the entry except {@code name}
 * @param path where this entry is in the config, e.g. {@code plugins[1]}, for error messages
 */
public record PluginConfig(String name, Map<String, Object> settings, String path) {

    public PluginConfig {
        settings = ConfigValues.immutableCopy(settings);
    }
}
