package io.powerproxy.loganalytics;

import io.powerproxy.plugins.OriginalFormat;
import io.powerproxy.plugins.Settings;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.PluginConfig;
import io.powerproxy.config.Secrets;
import io.powerproxy.pipeline.PluginContext;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The settings of {@code LogUsageToLogAnalytics}, checked completely at start-up with the config path in every
 * message; the client secret is never shown, not even in {@link #toString()}.
 *
 * @param endpoint {@code log_ingestion_endpoint}: the logs ingestion URL of the data collection endpoint (or rule)
 * @param ruleId {@code data_collection_rule_id}: the rule's immutable id, {@code dcr-...}
 * @param streamName {@code stream_name}: the rule's input stream, default {@value #DEFAULT_STREAM}
 * @param servicePrincipal {@code credential_tenant_id}, {@code credential_client_id} and
 *     {@code credential_client_secret}, or null to use a managed identity or DefaultAzureCredential
 * @param managedIdentityClientId the top-level {@code user_assigned_managed_identity_client_id}, or null
 * @param extendedColumns {@code extended_columns}: whether rows carry the new columns too
 * @param originalTable {@code format: original}: whether rows are typed for the table the original's deployment
 *     script created ({@code RequestReceivedUtc} text as Python wrote it, {@code AoaiRoundtripTimeMS} a whole number)
 * @param logDir {@code log_dir}: where the spool and the dead-letter file are, default {@value #DEFAULT_LOG_DIR}
 * @param batchMaxRows {@code batch_max_rows}: the most rows per upload
 * @param batchMaxAge {@code batch_max_seconds}: how long a row waits for more to fill its batch
 * @param retryMax {@code retry_max_seconds}: the longest pause between attempts while Log Analytics fails
 */
public record LogAnalyticsSettings(URI endpoint, String ruleId, String streamName, ServicePrincipal servicePrincipal,
        String managedIdentityClientId, boolean extendedColumns, boolean originalTable, Path logDir, int batchMaxRows, Duration batchMaxAge,
        Duration retryMax) {

    public static final String DEFAULT_STREAM = "Custom-AzureOpenAIUsage_PP_CL";
    static final String DEFAULT_LOG_DIR = "logs/";
    static final int DEFAULT_BATCH_MAX_ROWS = 500;
    static final int MAX_BATCH_MAX_ROWS = 10_000;
    static final double DEFAULT_BATCH_MAX_SECONDS = 2;
    static final double MAX_BATCH_MAX_SECONDS = 300;
    static final double DEFAULT_RETRY_MAX_SECONDS = 60;
    static final double MAX_RETRY_MAX_SECONDS = 3600;
    /** Every setting, in the order messages list them. */
    public static final Set<String> KEYS = Collections.unmodifiableSet(new LinkedHashSet<>(List.of("log_ingestion_endpoint",
            "data_collection_rule_id", "stream_name", "credential_tenant_id", "credential_client_id",
            "credential_client_secret", "extended_columns", OriginalFormat.SETTING, "log_dir", "batch_max_rows",
            "batch_max_seconds", "retry_max_seconds")));
    private static final List<String> CREDENTIAL_KEYS = List.of("credential_tenant_id", "credential_client_id",
            "credential_client_secret");
    private static final Pattern RULE_ID = Pattern.compile("dcr-[0-9A-Za-z]+");
    private static final Pattern STREAM = Pattern.compile("Custom-[A-Za-z0-9_]+");

    /** A service principal's credentials; {@link #toString()} masks the secret. */
    public record ServicePrincipal(String tenantId, String clientId, String clientSecret) {

        @Override
        public String toString() {
            return "ServicePrincipal[tenantId=" + tenantId + ", clientId=" + clientId + ", clientSecret="
                    + Secrets.mask(clientSecret) + "]";
        }
    }

    /** Which credential gets the tokens, for the start-up log: never a secret. */
    public String credentialDescription() {
        if (servicePrincipal != null) {
            return "the service principal " + servicePrincipal.clientId() + " of tenant " + servicePrincipal.tenantId()
                    + " (client secret)";
        }
        if (managedIdentityClientId != null) {
            return "the user-assigned managed identity " + managedIdentityClientId;
        }
        return "DefaultAzureCredential";
    }

    /** Reads and checks the plugin's settings. */
    public static LogAnalyticsSettings parse(PluginContext context) throws ConfigException {
        PluginConfig config = context.settings();
        Map<String, Object> settings = config.settings();
        String path = config.path();
        List<String> problems = new ArrayList<>();
        Settings.rejectUnknown(config, KEYS, problems);

        URI endpoint = endpoint(settings.get("log_ingestion_endpoint"), path + ".log_ingestion_endpoint", problems);
        String ruleId = ruleId(settings.get("data_collection_rule_id"), path + ".data_collection_rule_id", problems);
        String stream = stream(settings.get("stream_name"), path + ".stream_name", problems);
        ServicePrincipal principal = servicePrincipal(settings, path, problems);
        boolean extended = flag(settings.get("extended_columns"), false, path + ".extended_columns", problems);
        boolean originalTable = OriginalFormat.chosen(config, problems);
        if (originalTable && extended) {
            problems.add(path + ".extended_columns cannot be true with " + OriginalFormat.SETTING + ": "
                    + OriginalFormat.ORIGINAL + ": the original's table has none of the extended columns");
        }
        Path logDir = logDir(settings.getOrDefault("log_dir", DEFAULT_LOG_DIR), path + ".log_dir", problems);
        int batchMaxRows = wholeNumber(settings.get("batch_max_rows"), DEFAULT_BATCH_MAX_ROWS, 1, MAX_BATCH_MAX_ROWS,
                path + ".batch_max_rows", problems);
        Duration batchMaxAge = seconds(settings.get("batch_max_seconds"), DEFAULT_BATCH_MAX_SECONDS, 0.01,
                MAX_BATCH_MAX_SECONDS, path + ".batch_max_seconds", problems);
        Duration retryMax = seconds(settings.get("retry_max_seconds"), DEFAULT_RETRY_MAX_SECONDS, 1,
                MAX_RETRY_MAX_SECONDS, path + ".retry_max_seconds", problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new LogAnalyticsSettings(endpoint, ruleId, stream, principal,
                context.config().userAssignedManagedIdentityClientId(), extended, originalTable, logDir, batchMaxRows, batchMaxAge,
                retryMax);
    }

    private static URI endpoint(Object value, String path, List<String> problems) {
        String example = "e.g. https://my-dce-a1b2.swedencentral-1.ingest.monitor.azure.com (the \"Logs Ingestion\""
                + " endpoint of the data collection endpoint)";
        if (value == null) {
            problems.add(path + " is required: the logs ingestion endpoint, " + example);
            return null;
        }
        if (value instanceof String text && !text.isBlank()) {
            try {
                URI uri = new URI(text.strip());
                if ("https".equalsIgnoreCase(uri.getScheme()) && uri.getHost() != null && uri.getRawUserInfo() == null
                        && uri.getRawQuery() == null && uri.getRawFragment() == null) {
                    return uri;
                }
            } catch (URISyntaxException e) {
                // Reported below.
            }
        }
        problems.add(path + " must be an https URL without query, " + example + ", got " + Settings.describe(value));
        return null;
    }

    private static String ruleId(Object value, String path, List<String> problems) {
        if (value == null) {
            problems.add(path + " is required: the immutable id of the data collection rule (dcr-...), shown by"
                    + " az monitor data-collection rule show --query immutableId");
            return null;
        }
        if (value instanceof String text && RULE_ID.matcher(text.strip()).matches()) {
            return text.strip();
        }
        String hint = value instanceof String text && text.contains("/")
                ? "; that looks like the rule's resource id, but the immutable id is needed"
                : "";
        problems.add(path + " must be the immutable id of the data collection rule (dcr- and letters and digits),"
                + " shown by az monitor data-collection rule show --query immutableId, got " + Settings.describe(value)
                + hint);
        return null;
    }

    private static String stream(Object value, String path, List<String> problems) {
        if (value == null) {
            return DEFAULT_STREAM;
        }
        if (value instanceof String text && STREAM.matcher(text.strip()).matches()) {
            return text.strip();
        }
        problems.add(path + " must name a custom stream of the data collection rule (Custom- and letters, digits or"
                + " _), e.g. " + DEFAULT_STREAM + ", got " + Settings.describe(value));
        return null;
    }

    /** All three credential settings, or none (empty ones count as none, as in the original); never shows a value. */
    private static ServicePrincipal servicePrincipal(Map<String, Object> settings, String path, List<String> problems) {
        List<String> given = new ArrayList<>();
        List<String> values = new ArrayList<>();
        boolean wrongType = false;
        for (String key : CREDENTIAL_KEYS) {
            Object value = settings.get(key);
            if (value == null || value instanceof String text && text.isBlank()) {
                values.add(null);
                continue;
            }
            if (!(value instanceof String text)) {
                problems.add(path + "." + key + " must be text: put it in quotes so that YAML reads it as written");
                wrongType = true;
                values.add(null);
                continue;
            }
            given.add(key);
            values.add(text.strip());
        }
        if (wrongType || given.isEmpty()) {
            return null;
        }
        if (given.size() < CREDENTIAL_KEYS.size()) {
            for (String key : CREDENTIAL_KEYS) {
                if (!given.contains(key)) {
                    problems.add(path + "." + key + " is missing: " + String.join(", ", given)
                            + (given.size() == 1 ? " is" : " are") + " set, and a service principal needs all of"
                            + " credential_tenant_id, credential_client_id and credential_client_secret (or none of"
                            + " them, to use the managed identity or DefaultAzureCredential)");
                }
            }
            return null;
        }
        return new ServicePrincipal(values.get(0), values.get(1), values.get(2));
    }

    private static boolean flag(Object value, boolean fallback, String path, List<String> problems) {
        if (value == null) {
            return fallback;
        }
        if (value instanceof Boolean bool) {
            return bool;
        }
        problems.add(path + " must be true or false, got " + Settings.describe(value));
        return fallback;
    }

    private static Path logDir(Object value, String path, List<String> problems) {
        if (value instanceof String text && !text.isBlank()) {
            try {
                return Path.of(text).toAbsolutePath().normalize();
            } catch (InvalidPathException e) {
                problems.add(path + " is not a valid path: " + e.getMessage());
                return null;
            }
        }
        problems.add(path + " must be the path of a directory, got " + Settings.describe(value));
        return null;
    }

    private static int wholeNumber(Object value, int fallback, int min, int max, String path, List<String> problems) {
        if (value == null) {
            return fallback;
        }
        if ((value instanceof Integer || value instanceof Long) && ((Number) value).longValue() >= min
                && ((Number) value).longValue() <= max) {
            return ((Number) value).intValue();
        }
        problems.add(path + " must be a whole number from " + min + " to " + max + ", got " + Settings.describe(value));
        return fallback;
    }

    private static Duration seconds(Object value, double fallback, double min, double max, String path,
            List<String> problems) {
        if (value == null) {
            return Duration.ofMillis(Math.round(fallback * 1000));
        }
        if (value instanceof Number number && number.doubleValue() >= min && number.doubleValue() <= max) {
            return Duration.ofMillis(Math.round(number.doubleValue() * 1000));
        }
        problems.add(path + " must be a number of seconds from " + format(min) + " to " + format(max) + ", got "
                + Settings.describe(value));
        return Duration.ofMillis(Math.round(fallback * 1000));
    }

    private static String format(double number) {
        return number == Math.rint(number) ? Long.toString((long) number) : Double.toString(number);
    }

    @Override
    public String toString() {
        return "LogAnalyticsSettings[endpoint=" + endpoint + ", ruleId=" + ruleId + ", streamName=" + streamName
                + ", servicePrincipal=" + servicePrincipal + ", managedIdentityClientId=" + managedIdentityClientId
                + ", extendedColumns=" + extendedColumns + ", originalTable=" + originalTable + ", logDir=" + logDir + ", batchMaxRows=" + batchMaxRows
                + ", batchMaxAge=" + batchMaxAge + ", retryMax=" + retryMax + "]";
    }
}
