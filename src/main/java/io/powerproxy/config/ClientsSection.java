package io.powerproxy.config;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Builds {@code clients:} into records: names and keys unique, a key or Entra ID auth each, one Entra ID client. */
final class ClientsSection {

    private final SettingReader read;
    private final ConfigProblems problems;
    // One instance per configuration: what earlier clients took.
    private final Map<String, String> pathsByName = new HashMap<>();
    private final Map<String, String> pathsByKey = new HashMap<>();
    private String entraClientPath;

    ClientsSection(SettingReader read, ConfigProblems problems) {
        this.read = read;
        this.problems = problems;
    }

    List<ClientConfig> build(Map<String, Object> root) {
        List<Object> items = read.nonEmptyList(root, "clients", "", "client");
        return items == null ? List.of() : read.mappings(items, "clients", this::client);
    }

    private ClientConfig client(Map<String, Object> client, String path, int index) {
        String name = read.uniqueName(client, path, pathsByName, "client names must be unique");
        String description = read.text(client, "description", path, false);
        boolean usesEntraIdAuth = read.bool(client, "uses_entra_id_auth", path);
        String key = read.text(client, "key", path, false);
        checkKey(client, key, usesEntraIdAuth, path);
        if (usesEntraIdAuth) {
            checkOnlyEntraClient(path);
        }
        List<String> deploymentsAllowed = client.containsKey("deployments_allowed")
                ? deploymentsAllowed(client.get("deployments_allowed"), path + ".deployments_allowed")
                : null;
        return new ClientConfig(name, description, key, usesEntraIdAuth, deploymentsAllowed, client, path);
    }

    private void checkKey(Map<String, Object> client, String key, boolean usesEntraIdAuth, String path) {
        if (usesEntraIdAuth && client.get("key") != null) {
            problems.add(path + " has both key and uses_entra_id_auth: true: set either key or uses_entra_id_auth");
        } else if (!usesEntraIdAuth && client.get("key") == null) {
            problems.add(path + ".key is required (or uses_entra_id_auth: true for the one client that stands for"
                    + " callers with an Entra ID token)");
        } else if (key != null && key.isBlank()) {
            problems.add(path + ".key must not be blank");
        } else if (key != null && !problems.isPlaceholder(path + ".key")) {
            String first = pathsByKey.putIfAbsent(key, path);
            if (first != null) {
                problems.add(path + ".key is the same as " + first + ".key: every client needs a key of its own");
            }
        }
    }

    private void checkOnlyEntraClient(String path) {
        if (entraClientPath != null) {
            problems.add(path + ".uses_entra_id_auth is true, but so is " + entraClientPath
                    + ".uses_entra_id_auth: at most one client may use Entra ID auth");
        } else {
            entraClientPath = path;
        }
    }

    /**
     * A comma-separated string or a list of names; empty for a placeholder, and for the key left empty
     * ({@code deployments_allowed:}), which in the original allowed no deployment.
     */
    private List<String> deploymentsAllowed(Object value, String path) {
        List<String> names = new ArrayList<>();
        if (value == null || problems.isPlaceholder(path)) {
            return names;
        }
        if (value instanceof List<?> items) {
            for (int i = 0; i < items.size(); i++) {
                String itemPath = path + "[" + i + "]";
                if (items.get(i) == null) {
                    problems.add(itemPath + " is empty: remove it or name a deployment");
                    continue;
                }
                String name = read.asText(items.get(i), itemPath);
                if (name != null && !name.isBlank()) {
                    names.add(name.strip());
                }
            }
            return names;
        }
        if (value instanceof Map<?, ?>) {
            problems.add(path + " must be a comma-separated string or a list of deployment names, got a mapping");
            return names;
        }
        for (String part : read.asText(value, path).split(",")) {
            if (!part.isBlank()) {
                names.add(part.strip());
            }
        }
        return names;
    }
}
