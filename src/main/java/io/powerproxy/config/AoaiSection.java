package io.powerproxy.config;

import static io.powerproxy.config.ConfigProblems.abbreviate;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Builds {@code aoai:}: the endpoints, the header filter (a regular expression), the mock response (JSON) and headroom. */
final class AoaiSection {

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    static final Set<String> KEYS = Set.of("endpoints", "forward_http_header_only_if_name_matches",
            "mock_response", "object_affinity", "headroom");
    private static final Set<String> OBJECT_AFFINITY_KEYS = Set.of("enabled", "remember_days", "redis");
    private static final int MAX_REMEMBER_DAYS = 3650;
    private static final Set<String> MOCK_RESPONSE_KEYS = Set.of("ms_to_wait_before_return", "json");

    private final SettingReader read;
    private final ConfigProblems problems;

    AoaiSection(SettingReader read, ConfigProblems problems) {
        this.read = read;
        this.problems = problems;
    }

    AoaiConfig build(Map<String, Object> root) {
        Object value = root.get("aoai");
        if (value == null) {
            problems.add("aoai is required: it lists the Azure OpenAI endpoints");
            return null;
        }
        Map<String, Object> aoai = read.mappingAt(value, "aoai");
        if (aoai == null) {
            return null;
        }
        read.warnUnknownKeys(aoai, "aoai", KEYS);
        Pattern headerFilter = headerFilter(aoai);
        MockResponse mockResponse = mockResponse(aoai);
        boolean mocked = aoai.get("mock_response") != null;
        List<EndpointConfig> endpoints = new EndpointsSection(read, problems).build(aoai, mocked);
        HeadroomConfig headroom = new HeadroomSection(read, problems).build(aoai);
        return new AoaiConfig(endpoints, headerFilter, mockResponse, objectAffinity(aoai), headroom);
    }

    /** {@code true}, {@code false}, or a mapping of {@code enabled}, {@code remember_days} and {@code redis}. */
    private ObjectAffinityConfig objectAffinity(Map<String, Object> aoai) {
        String path = "aoai.object_affinity";
        Object value = aoai.get("object_affinity");
        if (value == null) {
            return ObjectAffinityConfig.DEFAULT;
        }
        if (value instanceof Boolean enabled) {
            return new ObjectAffinityConfig(enabled, ObjectAffinityConfig.DEFAULT_REMEMBER_FOR, null, path);
        }
        Map<String, Object> settings = read.mappingAt(value, path);
        if (settings == null) {
            return ObjectAffinityConfig.DEFAULT;
        }
        read.warnUnknownKeys(settings, path, OBJECT_AFFINITY_KEYS);
        boolean enabled = settings.get("enabled") == null || read.bool(settings, "enabled", path);
        int days = read.whole(settings, "remember_days", path, 30, 1, "a whole number of days from 1 to "
                + MAX_REMEMBER_DAYS);
        if (days > MAX_REMEMBER_DAYS) {
            problems.add(path + ".remember_days must be a whole number of days from 1 to " + MAX_REMEMBER_DAYS
                    + ", got " + days);
        }
        Map<String, Object> redis = settings.get("redis") == null ? null : read.mapping(settings, "redis", path);
        return new ObjectAffinityConfig(enabled, Duration.ofDays(days), redis, path);
    }

    private Pattern headerFilter(Map<String, Object> aoai) {
        String path = "aoai.forward_http_header_only_if_name_matches";
        String regex = read.text(aoai, "forward_http_header_only_if_name_matches", "aoai", false);
        if (regex == null || problems.isPlaceholder(path)) {
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
        Map<String, Object> mock = read.mapping(aoai, "mock_response", "aoai");
        if (mock == null) {
            return null;
        }
        read.warnUnknownKeys(mock, path, MOCK_RESPONSE_KEYS);
        double millis = read.decimal(mock, "ms_to_wait_before_return", path, 0, d -> d >= 0,
                "a number of milliseconds of at least 0");
        return new MockResponse(Duration.ofNanos(Math.round(millis * 1_000_000)), mockJson(mock.get("json"), path + ".json"));
    }

    /** The JSON document to answer with, serialised; written as a YAML mapping or as a string of JSON. */
    private String mockJson(Object json, String path) {
        if (json == null) {
            problems.add(path + " is required: the JSON document to answer every request with");
            return null;
        }
        if (problems.isPlaceholder(path)) {
            return null;
        }
        try {
            if (json instanceof Map<?, ?>) {
                return JSON.writeValueAsString(json);
            }
            if (json instanceof String text) {
                return jsonObject(JSON.readTree(text), path);
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
        problems.add(path + " must be a mapping, a list or a string of JSON, got " + problems.shown(json, path));
        return null;
    }

    private String jsonObject(JsonNode document, String path) throws JsonProcessingException {
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
}
