package io.powerproxy.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.StringReader;
import java.math.BigInteger;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.DoublePredicate;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Parses the YAML configuration (the Python original's format, §2) into a {@link ProxyConfig}, collecting every
 * problem with its config path instead of stopping at the first.
 */
public final class ConfigLoader {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final Pattern SECRET_NAME = Pattern.compile("key|passw|pwd|secret|connection_?string|token(?!s)");

    private static final Set<String> TOP_LEVEL_KEYS = Set.of("clients", "plugins", "aoai",
            "user_assigned_managed_identity_client_id",
            "azure_subscription_id", "region", "resource_group", "unique_prefix");
    private static final Set<String> AOAI_KEYS = Set.of("endpoints", "forward_http_header_only_if_name_matches",
            "mock_response");
    private static final Set<String> ENDPOINT_KEYS = Set.of("name", "url", "key", "non_streaming_fraction", "priority",
            "weight", "connections", "virtual_deployments");
    private static final Set<String> CONNECTIONS_KEYS = Set.of("limits", "timeouts");
    private static final Set<String> LIMITS_KEYS = Set.of("max_connections", "max_keepalive_connections",
            "keepalive_expiry");
    private static final Set<String> TIMEOUTS_KEYS = Set.of("connect", "read", "write", "pool");
    private static final Set<String> VIRTUAL_DEPLOYMENT_KEYS = Set.of("name", "standins");
    private static final Set<String> STANDIN_KEYS = Set.of("name", "non_streaming_fraction", "priority", "weight");
    private static final Set<String> MOCK_RESPONSE_KEYS = Set.of("ms_to_wait_before_return", "json");

    private final List<String> problems = new ArrayList<>();
    /** Paths of string values that are still placeholders; their own checks are skipped. */
    private final Set<String> placeholders = new HashSet<>();
    /** The source text of every number or boolean, so that {@code key: 0123} stays "0123". */
    private final Map<String, String> scalarTexts = new HashMap<>();
    private final ScalarConstructor scalarConstructor = new ScalarConstructor();

    private ConfigLoader() {
    }

    /**
     * Parses and validates the configuration.
     *
     * @throws ConfigException with every problem found, each naming its config path and none showing a secret
     */
    public static ProxyConfig parse(String yamlText) throws ConfigException {
        ConfigLoader loader = new ConfigLoader();
        Object root = loader.readYaml(yamlText == null ? "" : yamlText);
        ProxyConfig config = root == null ? null : loader.proxyConfig(root);
        if (!loader.problems.isEmpty()) {
            throw new ConfigException(loader.problems);
        }
        return config;
    }

    /** Whether a setting of this name holds a secret (key, password, secret, token...) that must never be shown. */
    static boolean isSecretName(String name) {
        return SECRET_NAME.matcher(name.toLowerCase(Locale.ROOT)).find();
    }

    static boolean isPlaceholder(String text) {
        return text.contains("___") || text.contains("<will be set by deployment script>");
    }

    // ---- YAML to plain maps, lists and scalars ----

    private Object readYaml(String yamlText) {
        Node root;
        try {
            root = new Yaml(new SafeConstructor(new LoaderOptions())).compose(new StringReader(yamlText));
        } catch (MarkedYAMLException e) {
            // Only problem, context and position: SnakeYAML's full message quotes the source line, which may hold a key.
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String where = mark == null ? "" : " at line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1);
            String context = e.getContext() == null ? "" : " (" + e.getContext() + ")";
            problems.add("the configuration is not valid YAML" + where + ": " + e.getProblem() + context);
            return null;
        } catch (YAMLException e) {
            problems.add("the configuration is not valid YAML: " + e.getMessage());
            return null;
        }
        if (root == null) {
            problems.add("the configuration is empty: it needs at least clients and aoai");
            return null;
        }
        return plain(root, "", Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    private Object plain(Node node, String path, Set<Node> open) {
        if (node instanceof ScalarNode scalar) {
            return scalar(scalar, path);
        }
        if (!open.add(node)) {
            problems.add(path + " contains itself through a YAML alias");
            return null;
        }
        try {
            if (node instanceof SequenceNode sequence) {
                List<Object> list = new ArrayList<>();
                List<Node> items = sequence.getValue();
                for (int i = 0; i < items.size(); i++) {
                    list.add(plain(items.get(i), path + "[" + i + "]", open));
                }
                return list;
            }
            Map<String, Node> entries = new LinkedHashMap<>();
            collectEntries((MappingNode) node, entries, path, true, open);
            Map<String, Object> map = new LinkedHashMap<>();
            entries.forEach((key, value) -> map.put(key, plain(value, child(path, key), open)));
            return map;
        } finally {
            open.remove(node);
        }
    }

    /** Collects a mapping's entries; explicit keys win over merged ones ({@code <<: *defaults}), earlier merges win. */
    private void collectEntries(MappingNode node, Map<String, Node> entries, String path, boolean explicit,
            Set<Node> open) {
        Map<String, Integer> lines = new HashMap<>();
        List<Node> merges = new ArrayList<>();
        for (NodeTuple tuple : node.getValue()) {
            Node keyNode = tuple.getKeyNode();
            if (keyNode.getTag().equals(Tag.MERGE)) {
                merges.add(tuple.getValueNode());
                continue;
            }
            int line = keyNode.getStartMark().getLine() + 1;
            if (!(keyNode instanceof ScalarNode scalarKey)) {
                problems.add(at(path) + "has a key that is not a plain name (line " + line + ")");
                continue;
            }
            String key = scalarKey.getValue();
            Integer firstLine = lines.putIfAbsent(key, line);
            if (firstLine != null) {
                problems.add(child(path, key) + " is given twice (lines " + firstLine + " and " + line + ")");
            } else if (explicit) {
                entries.put(key, tuple.getValueNode());
            } else {
                entries.putIfAbsent(key, tuple.getValueNode());
            }
        }
        for (Node merge : merges) {
            List<Node> sources = merge instanceof SequenceNode sequence ? sequence.getValue() : List.of(merge);
            for (Node source : sources) {
                if (source instanceof MappingNode mapping && open.add(mapping)) {
                    try {
                        collectEntries(mapping, entries, path, false, open);
                    } finally {
                        open.remove(mapping);
                    }
                } else {
                    problems.add(at(path) + "has a '<<' merge key that does not name a mapping (line "
                            + (source.getStartMark().getLine() + 1) + ")");
                }
            }
        }
    }

    private Object scalar(ScalarNode node, String path) {
        String text = node.getValue();
        Tag tag = node.getTag();
        if (isPlaceholder(text)) {
            placeholders.add(path);
            problems.add(isSecretPath(path)
                    ? path + " is still a placeholder: fill it in"
                    : path + " is still a placeholder ('" + abbreviate(text) + "'): fill it in");
            return text;
        }
        if (tag.equals(Tag.STR) || tag.equals(Tag.TIMESTAMP) || tag.equals(Tag.BINARY)) {
            // Timestamps stay text: plugins and the mock's JSON expect what was written, not a java.util.Date.
            return text;
        }
        if (tag.equals(Tag.NULL) || tag.equals(Tag.BOOL) || tag.equals(Tag.INT) || tag.equals(Tag.FLOAT)) {
            scalarTexts.put(path, text);
            try {
                return scalarConstructor.construct(node);
            } catch (YAMLException e) {
                problems.add(path + " cannot be read as " + tag.getValue() + ": " + e.getMessage());
                return null;
            }
        }
        problems.add(path + " has the YAML tag " + tag.getValue() + ", which is not supported here");
        return null;
    }

    // ---- the configuration's sections ----

    private ProxyConfig proxyConfig(Object rootValue) {
        if (!(rootValue instanceof Map<?, ?>)) {
            problems.add("the configuration must be a YAML mapping (clients:, plugins:, aoai: ...), got "
                    + kind(rootValue));
            return null;
        }
        Map<String, Object> root = asMap(rootValue);
        warnUnknownKeys(root, "", TOP_LEVEL_KEYS);
        List<ClientConfig> clients = clients(root);
        List<PluginConfig> plugins = plugins(root);
        AoaiConfig aoai = aoai(root);
        String identity = text(root, "user_assigned_managed_identity_client_id", "", false);
        if (identity != null && identity.isBlank()) {
            identity = null;
        }
        return problems.isEmpty() ? new ProxyConfig(clients, plugins, aoai, identity) : null;
    }

    private List<ClientConfig> clients(Map<String, Object> root) {
        List<Object> items = list(root, "clients", "", true);
        if (items == null) {
            return List.of();
        }
        if (items.isEmpty()) {
            problems.add("clients must list at least one client");
        }
        List<ClientConfig> clients = new ArrayList<>();
        Map<String, String> pathsByName = new HashMap<>();
        Map<String, String> pathsByKey = new HashMap<>();
        String entraClientPath = null;
        for (int i = 0; i < items.size(); i++) {
            String path = "clients[" + i + "]";
            Map<String, Object> client = mappingAt(items.get(i), path);
            if (client == null) {
                continue;
            }
            String name = requiredName(client, path);
            checkUnique(pathsByName, name, path, "name", "client names must be unique");
            String description = text(client, "description", path, false);
            boolean usesEntraIdAuth = bool(client, "uses_entra_id_auth", path);
            String key = text(client, "key", path, false);
            if (usesEntraIdAuth && client.get("key") != null) {
                problems.add(path + " has both key and uses_entra_id_auth: true: set either key or uses_entra_id_auth");
            } else if (!usesEntraIdAuth && client.get("key") == null) {
                problems.add(path + ".key is required (or uses_entra_id_auth: true for the one client that stands for"
                        + " callers with an Entra ID token)");
            } else if (key != null && key.isBlank()) {
                problems.add(path + ".key must not be blank");
            } else if (key != null && !placeholders.contains(path + ".key")) {
                String first = pathsByKey.putIfAbsent(key, path);
                if (first != null) {
                    problems.add(path + ".key is the same as " + first + ".key: every client needs a key of its own");
                }
            }
            if (usesEntraIdAuth) {
                if (entraClientPath != null) {
                    problems.add(path + ".uses_entra_id_auth is true, but so is " + entraClientPath
                            + ".uses_entra_id_auth: at most one client may use Entra ID auth");
                } else {
                    entraClientPath = path;
                }
            }
            List<String> deploymentsAllowed = deploymentsAllowed(client.get("deployments_allowed"),
                    path + ".deployments_allowed");
            clients.add(new ClientConfig(name, description, key, usesEntraIdAuth, deploymentsAllowed, client, path));
        }
        return clients;
    }

    private List<String> deploymentsAllowed(Object value, String path) {
        if (value == null) {
            return null;
        }
        List<String> names = new ArrayList<>();
        if (placeholders.contains(path)) {
            return names;
        }
        if (value instanceof List<?> items) {
            for (int i = 0; i < items.size(); i++) {
                String itemPath = path + "[" + i + "]";
                if (items.get(i) == null) {
                    problems.add(itemPath + " is empty: remove it or name a deployment");
                    continue;
                }
                String name = asText(items.get(i), itemPath);
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
        for (String part : asText(value, path).split(",")) {
            if (!part.isBlank()) {
                names.add(part.strip());
            }
        }
        return names;
    }

    private List<PluginConfig> plugins(Map<String, Object> root) {
        List<Object> items = list(root, "plugins", "", false);
        if (items == null) {
            return List.of();
        }
        List<PluginConfig> plugins = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            String path = "plugins[" + i + "]";
            Map<String, Object> plugin = mappingAt(items.get(i), path);
            if (plugin == null) {
                continue;
            }
            String name = requiredName(plugin, path);
            Map<String, Object> settings = new LinkedHashMap<>(plugin);
            settings.remove("name");
            plugins.add(new PluginConfig(name, settings, path));
        }
        return plugins;
    }

    private AoaiConfig aoai(Map<String, Object> root) {
        Object value = root.get("aoai");
        if (value == null) {
            problems.add("aoai is required: it lists the Azure OpenAI endpoints");
            return null;
        }
        Map<String, Object> aoai = mappingAt(value, "aoai");
        if (aoai == null) {
            return null;
        }
        warnUnknownKeys(aoai, "aoai", AOAI_KEYS);
        Pattern headerFilter = headerFilter(aoai);
        MockResponse mockResponse = mockResponse(aoai);
        List<EndpointConfig> endpoints = endpoints(aoai, aoai.get("mock_response") != null);
        return new AoaiConfig(endpoints, headerFilter, mockResponse);
    }

    private Pattern headerFilter(Map<String, Object> aoai) {
        String path = "aoai.forward_http_header_only_if_name_matches";
        String regex = text(aoai, "forward_http_header_only_if_name_matches", "aoai", false);
        if (regex == null || placeholders.contains(path)) {
            return null;
        }
        try {
            // The original matches header names with re.IGNORECASE.
            return Pattern.compile(fromPythonRegex(regex), Pattern.CASE_INSENSITIVE);
        } catch (PatternSyntaxException e) {
            problems.add(path + " is not a valid regular expression: " + e.getDescription() + " at index " + e.getIndex()
                    + " of '" + abbreviate(regex) + "'");
            return null;
        }
    }

    /** Accepts Python's named-group syntax, which the original's example documents, in Java's form. */
    private static String fromPythonRegex(String regex) {
        return regex.replace("(?P<", "(?<").replaceAll("\\(\\?P=(\\w+)\\)", "\\\\k<$1>");
    }

    private MockResponse mockResponse(Map<String, Object> aoai) {
        String path = "aoai.mock_response";
        Object value = aoai.get("mock_response");
        Map<String, Object> mock = value == null ? null : mappingAt(value, path);
        if (mock == null) {
            return null;
        }
        warnUnknownKeys(mock, path, MOCK_RESPONSE_KEYS);
        double millis = decimal(mock, "ms_to_wait_before_return", path, 0, d -> d >= 0,
                "a number of milliseconds of at least 0");
        return new MockResponse(Duration.ofNanos(Math.round(millis * 1_000_000)), mockJson(mock.get("json"), path + ".json"));
    }

    private String mockJson(Object json, String path) {
        if (json == null) {
            problems.add(path + " is required: the JSON document to answer every request with");
            return null;
        }
        if (placeholders.contains(path)) {
            return null;
        }
        try {
            if (json instanceof Map<?, ?>) {
                return JSON.writeValueAsString(json);
            }
            if (json instanceof String text) {
                JsonNode document = JSON.readTree(text);
                if (document == null || document.isMissingNode()) {
                    problems.add(path + " is not valid JSON: it is empty");
                    return null;
                }
                if (!document.isObject()) {
                    problems.add(path + " must be a JSON object, like an Azure OpenAI answer");
                    return null;
                }
                return JSON.writeValueAsString(document);
            }
            if (json instanceof List<?>) {
                problems.add(path + " must be a JSON object, like an Azure OpenAI answer, not a list");
                return null;
            }
        } catch (JsonProcessingException e) {
            JsonLocation location = e.getLocation();
            String where = location == null ? "" : " (line " + location.getLineNr() + ", column "
                    + location.getColumnNr() + ")";
            problems.add(path + " is not valid JSON: " + e.getOriginalMessage() + where);
            return null;
        }
        problems.add(path + " must be a mapping, a list or a string of JSON, got " + shown(json, path));
        return null;
    }

    private List<EndpointConfig> endpoints(Map<String, Object> aoai, boolean mocked) {
        String path = "aoai.endpoints";
        List<Object> items = list(aoai, "endpoints", "aoai", false);
        boolean missing = aoai.get("endpoints") == null || items != null && items.isEmpty();
        if (missing && !mocked) {
            problems.add(path + " must list at least one Azure OpenAI endpoint (or set aoai.mock_response)");
        }
        if (items == null) {
            return List.of();
        }
        List<EndpointConfig> endpoints = new ArrayList<>();
        Map<String, String> pathsByName = new HashMap<>();
        for (int i = 0; i < items.size(); i++) {
            EndpointConfig endpoint = endpoint(items.get(i), path + "[" + i + "]", i);
            if (endpoint == null) {
                continue;
            }
            checkUnique(pathsByName, endpoint.name(), endpoint.path(), "name", "endpoint names must be unique");
            endpoints.add(endpoint);
            if (i == items.size() - 1 && endpoint.nonStreamingFraction() != 1) {
                problems.add(endpoint.path() + ".non_streaming_fraction must be 1 for the last endpoint"
                        + " (otherwise some non-streaming requests find no endpoint)");
            }
        }
        return endpoints;
    }

    private EndpointConfig endpoint(Object value, String path, int index) {
        Map<String, Object> endpoint = mappingAt(value, path);
        if (endpoint == null) {
            return null;
        }
        warnUnknownKeys(endpoint, path, ENDPOINT_KEYS);
        String name = requiredName(endpoint, path);
        URI url = url(endpoint, path);
        String key = text(endpoint, "key", path, false);
        if (key != null && key.isBlank()) {
            problems.add(path + ".key must not be blank (leave it out to authenticate with Entra ID)");
        }
        double nonStreamingFraction = fraction(endpoint, path);
        int priority = whole(endpoint, "priority", path, index, Integer.MIN_VALUE, "a whole number");
        double weight = decimal(endpoint, "weight", path, 1, d -> d > 0, "a positive number");
        Map<String, Object> connections = mapping(endpoint, "connections", path);
        String connectionsPath = path + ".connections";
        if (connections != null) {
            warnUnknownKeys(connections, connectionsPath, CONNECTIONS_KEYS);
        }
        ConnectionLimits limits = limits(connections == null ? null : mapping(connections, "limits", connectionsPath),
                connectionsPath + ".limits");
        Timeouts timeouts = timeouts(connections == null ? null : mapping(connections, "timeouts", connectionsPath),
                connectionsPath + ".timeouts");
        List<VirtualDeploymentConfig> virtualDeployments = virtualDeployments(endpoint, path);
        return new EndpointConfig(name, url, key, nonStreamingFraction, priority, weight, limits, timeouts,
                virtualDeployments, path);
    }

    private URI url(Map<String, Object> endpoint, String parentPath) {
        String path = parentPath + ".url";
        String text = text(endpoint, "url", parentPath, true);
        if (text == null || placeholders.contains(path)) {
            return null;
        }
        // A URL with user info or a query may carry a secret: such a value is never quoted back.
        String shown = text.contains("@") || text.contains("?") ? "a URL that is not shown" : "'" + abbreviate(text) + "'";
        URI uri;
        try {
            uri = new URI(text.strip());
        } catch (URISyntaxException e) {
            problems.add(path + " must be an absolute http(s) URL, got " + shown);
            return null;
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (uri.isOpaque() || !(scheme.equals("http") || scheme.equals("https"))) {
            problems.add(path + " must be an absolute http(s) URL, got " + shown);
        } else if (uri.getRawUserInfo() != null) {
            problems.add(path + " must be an absolute http(s) URL without user info (user:password@)");
        } else if (uri.getHost() == null) {
            problems.add(path + " must be an absolute http(s) URL with a valid host name, got " + shown);
        } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            problems.add(path + " must be an absolute http(s) URL without a query or fragment"
                    + " (request paths and queries are appended to it)");
        } else {
            String rawPath = uri.getRawPath() == null ? "" : uri.getRawPath().replaceAll("/+$", "");
            return URI.create(scheme + "://" + uri.getRawAuthority() + rawPath);
        }
        return null;
    }

    private ConnectionLimits limits(Map<String, Object> limits, String path) {
        ConnectionLimits defaults = ConnectionLimits.DEFAULTS;
        if (limits == null) {
            return defaults;
        }
        warnUnknownKeys(limits, path, LIMITS_KEYS);
        return new ConnectionLimits(
                whole(limits, "max_connections", path, defaults.maxConnections(), 1, "a whole number of at least 1"),
                whole(limits, "max_keepalive_connections", path, defaults.maxKeepaliveConnections(), 0,
                        "a whole number of at least 0"),
                seconds(limits, "keepalive_expiry", path, defaults.keepaliveExpiry(), false));
    }

    private Timeouts timeouts(Map<String, Object> timeouts, String path) {
        Timeouts defaults = Timeouts.DEFAULTS;
        if (timeouts == null) {
            return defaults;
        }
        warnUnknownKeys(timeouts, path, TIMEOUTS_KEYS);
        return new Timeouts(
                seconds(timeouts, "connect", path, defaults.connect(), true),
                seconds(timeouts, "read", path, defaults.read(), true),
                seconds(timeouts, "write", path, defaults.write(), true),
                seconds(timeouts, "pool", path, defaults.pool(), true));
    }

    private List<VirtualDeploymentConfig> virtualDeployments(Map<String, Object> endpoint, String endpointPath) {
        List<Object> items = list(endpoint, "virtual_deployments", endpointPath, false);
        if (items == null) {
            return List.of();
        }
        List<VirtualDeploymentConfig> virtualDeployments = new ArrayList<>();
        Map<String, String> pathsByName = new HashMap<>();
        for (int i = 0; i < items.size(); i++) {
            String path = endpointPath + ".virtual_deployments[" + i + "]";
            Map<String, Object> virtualDeployment = mappingAt(items.get(i), path);
            if (virtualDeployment == null) {
                continue;
            }
            warnUnknownKeys(virtualDeployment, path, VIRTUAL_DEPLOYMENT_KEYS);
            String name = requiredName(virtualDeployment, path);
            checkUnique(pathsByName, name, path, "name", "virtual deployment names must be unique within an endpoint");
            virtualDeployments.add(new VirtualDeploymentConfig(name, standins(virtualDeployment, path), path));
        }
        return virtualDeployments;
    }

    private List<StandinConfig> standins(Map<String, Object> virtualDeployment, String virtualDeploymentPath) {
        List<Object> items = list(virtualDeployment, "standins", virtualDeploymentPath, true);
        if (items == null) {
            return List.of();
        }
        if (items.isEmpty()) {
            problems.add(virtualDeploymentPath + ".standins must list at least one stand-in deployment");
        }
        List<StandinConfig> standins = new ArrayList<>();
        Map<String, String> pathsByName = new HashMap<>();
        for (int i = 0; i < items.size(); i++) {
            String path = virtualDeploymentPath + ".standins[" + i + "]";
            Map<String, Object> standin = mappingAt(items.get(i), path);
            if (standin == null) {
                continue;
            }
            warnUnknownKeys(standin, path, STANDIN_KEYS);
            String name = requiredName(standin, path);
            checkUnique(pathsByName, name, path, "name", "stand-in names must be unique within a virtual deployment");
            double nonStreamingFraction = fraction(standin, path);
            int priority = whole(standin, "priority", path, i, Integer.MIN_VALUE, "a whole number");
            double weight = decimal(standin, "weight", path, 1, d -> d > 0, "a positive number");
            standins.add(new StandinConfig(name, nonStreamingFraction, priority, weight, path));
            if (i == items.size() - 1 && nonStreamingFraction != 1) {
                problems.add(path + ".non_streaming_fraction must be 1 for the last stand-in"
                        + " (otherwise some non-streaming requests find no stand-in)");
            }
        }
        return standins;
    }

    // ---- typed reading of one value, each problem with its path ----

    private String requiredName(Map<String, Object> map, String parentPath) {
        String name = text(map, "name", parentPath, true);
        if (name != null && name.isBlank()) {
            problems.add(parentPath + ".name must not be blank");
        }
        return name;
    }

    private void checkUnique(Map<String, String> pathsByValue, String value, String path, String key, String rule) {
        if (value == null || placeholders.contains(path + "." + key)) {
            return;
        }
        String first = pathsByValue.putIfAbsent(value, path);
        if (first != null) {
            problems.add(path + "." + key + " '" + abbreviate(value) + "' is the same as " + first + "." + key + ": "
                    + rule);
        }
    }

    private String text(Map<String, Object> map, String key, String parentPath, boolean required) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null) {
            if (required) {
                problems.add(path + " is required");
            }
            return null;
        }
        return asText(value, path);
    }

    /** Numbers and booleans are accepted where text is expected, as written: {@code key: 1234} is "1234". */
    private String asText(Object value, String path) {
        if (value instanceof String text) {
            return text;
        }
        if (value instanceof Number || value instanceof Boolean) {
            return scalarTexts.getOrDefault(path, String.valueOf(value));
        }
        problems.add(path + " must be a string, got " + shown(value, path));
        return null;
    }

    private boolean bool(Map<String, Object> map, String key, String parentPath) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null || placeholders.contains(path)) {
            return false;
        }
        if (value instanceof Boolean flag) {
            return flag;
        }
        problems.add(path + " must be true or false, got " + shown(value, path));
        return false;
    }

    private double fraction(Map<String, Object> map, String parentPath) {
        return decimal(map, "non_streaming_fraction", parentPath, 1, d -> d >= 0 && d <= 1, "a number between 0 and 1");
    }

    private double decimal(Map<String, Object> map, String key, String parentPath, double fallback, DoublePredicate valid,
            String expected) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null || placeholders.contains(path)) {
            return fallback;
        }
        if (value instanceof Number number && Double.isFinite(number.doubleValue()) && valid.test(number.doubleValue())) {
            return number.doubleValue();
        }
        problems.add(path + " must be " + expected + ", got " + shown(value, path));
        return fallback;
    }

    private int whole(Map<String, Object> map, String key, String parentPath, int fallback, int min, String expected) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null || placeholders.contains(path)) {
            return fallback;
        }
        if (value instanceof Number number && isInt(number) && number.intValue() >= min) {
            return number.intValue();
        }
        problems.add(path + " must be " + expected + ", got " + shown(value, path));
        return fallback;
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

    private Duration seconds(Map<String, Object> map, String key, String parentPath, Duration fallback, boolean positive) {
        double seconds = decimal(map, key, parentPath, Double.NaN, positive ? d -> d > 0 : d -> d >= 0,
                positive ? "a positive number of seconds" : "a number of seconds of at least 0");
        if (Double.isNaN(seconds)) {
            return fallback;
        }
        long millis = Math.round(seconds * 1000);
        return Duration.ofMillis(positive ? Math.max(1, millis) : millis);
    }

    private Map<String, Object> mapping(Map<String, Object> map, String key, String parentPath) {
        Object value = map.get(key);
        return value == null ? null : mappingAt(value, child(parentPath, key));
    }

    private Map<String, Object> mappingAt(Object value, String path) {
        if (value instanceof Map<?, ?>) {
            return asMap(value);
        }
        if (!placeholders.contains(path)) {
            problems.add(path + " must be a mapping (key: value lines), got " + kind(value));
        }
        return null;
    }

    private List<Object> list(Map<String, Object> map, String key, String parentPath, boolean required) {
        String path = child(parentPath, key);
        Object value = map.get(key);
        if (value == null) {
            if (required) {
                problems.add(path + " is required");
            }
            return null;
        }
        if (value instanceof List<?> items) {
            return Collections.unmodifiableList(items);
        }
        if (!placeholders.contains(path)) {
            problems.add(path + " must be a list (lines starting with '- '), got " + kind(value));
        }
        return null;
    }

    private void warnUnknownKeys(Map<String, Object> map, String path, Set<String> known) {
        for (String key : map.keySet()) {
            if (!known.contains(key)) {
                LOG.warn("Config key {} is unknown and ignored", child(path, key));
            }
        }
    }

    /** Describes a value for a problem message: scalars quoted as written, unless the path suggests a secret. */
    private String shown(Object value, String path) {
        if (value instanceof Map<?, ?> || value instanceof List<?> || isSecretPath(path)) {
            return kind(value);
        }
        String text = value instanceof String s ? s : scalarTexts.getOrDefault(path, String.valueOf(value));
        return "'" + abbreviate(text) + "'";
    }

    /** The kind of a value, never its content: the value may be a secret written in the wrong place. */
    private static String kind(Object value) {
        return switch (value) {
            case null -> "nothing";
            case Map<?, ?> map -> "a mapping";
            case List<?> list -> "a list";
            case Number number -> "a number";
            case Boolean flag -> "true or false";
            default -> "a string";
        };
    }

    private static boolean isSecretPath(String path) {
        for (String segment : path.split("\\.")) {
            if (isSecretName(segment.replaceAll("\\[\\d+]", ""))) {
                return true;
            }
        }
        return false;
    }

    private static String abbreviate(String text) {
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }

    private static String child(String parentPath, String key) {
        return parentPath.isEmpty() ? key : parentPath + "." + key;
    }

    private static String at(String path) {
        return path.isEmpty() ? "the top level " : path + " ";
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object value) {
        return (Map<String, Object>) value;
    }

    /** SnakeYAML's own construction of null, booleans, integers and floats (YAML 1.1, like the original's PyYAML). */
    private static final class ScalarConstructor extends SafeConstructor {

        ScalarConstructor() {
            super(new LoaderOptions());
        }

        Object construct(ScalarNode node) {
            return constructObject(node);
        }
    }
}
