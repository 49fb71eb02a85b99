package io.powerproxy.config;

import static io.powerproxy.config.ConfigProblems.kind;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Parses the YAML configuration (the Python original's format) into a {@link ProxyConfig}, collecting every
 * problem with its config path instead of stopping at the first.
 */
public final class ConfigLoader {

    private static final Pattern SECRET_NAME = Pattern.compile("key|passw|pwd|secret|connection_?string|token(?!s)");
    /** The top-level keys, in the order a problem lists them. */
    private static final List<String> TOP_LEVEL_KEYS = List.of("clients", "plugins", "aoai",
            "user_assigned_managed_identity_client_id",
            "azure_subscription_id", "region", "resource_group", "unique_prefix");
    private static final String FIXED_CLIENT_GONE = " is not supported anymore: remove it and set"
            + " 'uses_entra_id_auth: true' on the one client that stands for every caller with an Entra ID token (this"
            + " replaced fixed_client in the Python original too)";

    private ConfigLoader() {
    }

    /**
     * Parses and validates the configuration.
     *
     * @throws ConfigException with every problem found, each naming its config path and none showing a secret
     */
    public static ProxyConfig parse(String yamlText) throws ConfigException {
        ConfigProblems problems = new ConfigProblems();
        Object root = new PlainYamlReader(problems).read(yamlText == null ? "" : yamlText);
        ProxyConfig config = root == null ? null : proxyConfig(root, problems);
        problems.throwIfAny();
        return config;
    }

    /** Whether a setting of this name holds a secret (key, password, secret, token...) that must never be shown. */
    static boolean isSecretName(String name) {
        return SECRET_NAME.matcher(name.toLowerCase(Locale.ROOT)).find();
    }

    private static ProxyConfig proxyConfig(Object rootValue, ConfigProblems problems) {
        if (!(rootValue instanceof Map<?, ?>)) {
            problems.add("the configuration must be a YAML mapping (clients:, plugins:, aoai: ...), got "
                    + kind(rootValue));
            return null;
        }
        Map<String, Object> root = SettingReader.asMap(rootValue);
        SettingReader read = new SettingReader(problems);
        checkTopLevelKeys(root, problems);
        List<ClientConfig> clients = new ClientsSection(read, problems).build(root);
        List<PluginConfig> plugins = plugins(root, read);
        AoaiConfig aoai = new AoaiSection(read, problems).build(root);
        String identity = read.text(root, "user_assigned_managed_identity_client_id", "", false);
        if (identity != null && identity.isBlank()) {
            identity = null;
        }
        return problems.isEmpty() ? new ProxyConfig(clients, plugins, aoai, identity) : null;
    }

    /**
     * An unknown top-level key is a problem, not a warning: a mistyped section ({@code plugin:} for {@code plugins:})
     * would otherwise start a proxy without its plugins. Unknown keys further down are warned about. Keys starting
     * with {@code x-} are free, as in Docker Compose files: they hold YAML anchors for {@code <<:} merges.
     */
    private static void checkTopLevelKeys(Map<String, Object> root, ConfigProblems problems) {
        for (String key : root.keySet()) {
            if (TOP_LEVEL_KEYS.contains(key) || key.startsWith("x-")) {
                continue;
            }
            if (key.equalsIgnoreCase("fixed_client")) {
                problems.add(key + FIXED_CLIENT_GONE);
                continue;
            }
            String meant = DidYouMean.closest(key, TOP_LEVEL_KEYS);
            if (meant == null && AoaiSection.KEYS.contains(key)) {
                meant = "aoai." + key;
            }
            problems.add(key + " is not a top-level key of the configuration: "
                    + (meant != null ? "did you mean '" + meant + "'?" : "the top level holds "
                    + String.join(", ", TOP_LEVEL_KEYS)));
        }
    }

    /** Only the name is checked here: the rest of an entry are the plugin's own settings. */
    private static List<PluginConfig> plugins(Map<String, Object> root, SettingReader read) {
        List<Object> items = read.list(root, "plugins", "", false);
        if (items == null) {
            return List.of();
        }
        return read.mappings(items, "plugins", (plugin, path, index) -> {
            String name = read.requiredName(plugin, path);
            Map<String, Object> settings = new LinkedHashMap<>(plugin);
            settings.remove("name");
            return new PluginConfig(name, settings, path);
        });
    }
}
