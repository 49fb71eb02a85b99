package io.powerproxy.plugins;

import io.powerproxy.loganalytics.DeadLetterFile;
import io.powerproxy.loganalytics.LogAnalyticsDelivery;
import io.powerproxy.loganalytics.LogAnalyticsRows;
import io.powerproxy.loganalytics.LogAnalyticsSettings;
import io.powerproxy.loganalytics.LogAnalyticsUploader;
import com.azure.core.credential.TokenCredential;
import com.azure.core.http.HttpClient;
import com.azure.core.http.jdk.httpclient.JdkHttpClientBuilder;
import com.azure.core.http.policy.FixedDelayOptions;
import com.azure.core.http.policy.RetryOptions;
import com.azure.identity.ClientSecretCredentialBuilder;
import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.identity.ManagedIdentityCredentialBuilder;
import com.azure.monitor.ingestion.LogsIngestionClient;
import com.azure.monitor.ingestion.LogsIngestionClientBuilder;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.UsageSinkMetrics;
import io.powerproxy.usage.Spool;
import io.powerproxy.usage.UsageRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends every usage record to the Log Analytics table {@code AzureOpenAIUsage_PP_CL} through the Logs Ingestion API
 *, with the Python original's settings and columns, and loses none while Log Analytics is down.
 *
 * <p>How a record travels:
 * <ol>
 *   <li>{@link #onUsage} appends it, as one JSON line, to a journal file in {@code log_dir/loganalytics-spool/} (a
 *       {@link Spool}) with one write, so that a crash of the process after the client got its answer cannot lose it.
 *       An upload thread sends the journal oldest first in batches of up to {@code batch_max_rows} rows, or what came
 *       within {@code batch_max_seconds}, each request under 1 MB, and acknowledges each batch the service accepted.
 *       The journal is forced to disk every second.</li>
 *   <li>When an upload fails for a reason that may pass (network, 401/403, 404, 408, 429, 5xx, no token), the rows
 *       wait in the journal; the thread retries after 1 s, 2 s, 4 s... up to {@code retry_max_seconds} (or the
 *       service's {@code Retry-After}). At start, what a previous process left unacknowledged is sent first.</li>
 *   <li>Rows the service rejects (400, 413) are logged and kept in {@code log_dir/loganalytics-deadletter.jsonl},
 *       never sent again.</li>
 *   <li>{@link #close()} uploads what the journal holds unless Log Analytics fails. {@link #readinessProblem()}
 *       reports the sink while Log Analytics fails or the journal cannot be written.</li>
 * </ol>
 * Delivery is at least once; a row is sent twice only when the process dies between an accepted upload and the
 * journal's acknowledgement of it, or when the service accepted a request whose answer never arrived. With
 * {@code extended_columns: true} every row carries its {@code RequestId}, by which KQL can remove such doubles.
 *
 * <p>With {@code format: original} the rows are those the original sent, for a table its deployment script created
 * ({@link LogAnalyticsRows#originalJson}).
 */
public final class LogUsageToLogAnalytics implements Plugin {

    static final String NAME = "LogUsageToLogAnalytics";
    static final String SPOOL_DIR = "loganalytics-spool";
    static final String DEAD_LETTER_FILE = "loganalytics-deadletter.jsonl";
    /** How long {@link #close()} may take to upload what the journal holds; the rest stays for the next start. */
    static final Duration FLUSH_TIMEOUT = Duration.ofSeconds(15);
    /** Bounds of one request: shorter than {@link #FLUSH_TIMEOUT}, so that a hanging service cannot outlast it. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    private static final Logger LOG = LoggerFactory.getLogger(LogUsageToLogAnalytics.class);

    /**
     * How the plugin reaches Azure; tests replace parts of it.
     *
     * @param httpClient the HTTP client for tokens and uploads, or null for the JDK HttpClient with this plugin's
     *     timeouts
     * @param credential the credential to use instead of the one the settings choose, or null
     * @param authorityHost the Entra ID authority for a service principal, with instance discovery turned off, or null
     *     for the public cloud's
     */
    record AzureAccess(HttpClient httpClient, TokenCredential credential, String authorityHost) {

        static final AzureAccess DEFAULT = new AzureAccess(null, null, null);
    }

    private final LogAnalyticsDelivery delivery;
    private final LogsIngestionClient client;
    private final boolean extendedColumns;
    private final boolean originalTable;
    private final UsageSinkMetrics rows;
    private final AtomicBoolean closed = new AtomicBoolean();

    private LogUsageToLogAnalytics(LogAnalyticsDelivery delivery, LogsIngestionClient client, boolean extendedColumns,
            boolean originalTable, UsageSinkMetrics rows) {
        this.rows = rows;
        this.delivery = delivery;
        this.client = client;
        this.extendedColumns = extendedColumns;
        this.originalTable = originalTable;
    }

    /** The factory that registers this plugin under its name. */
    public static PluginFactory factory() {
        return factory(AzureAccess.DEFAULT);
    }

    /** The factory with an injected HTTP client, credential or authority, for tests. */
    static PluginFactory factory(AzureAccess access) {
        Objects.requireNonNull(access, "access");
        return new PluginFactory() {
            @Override
            public String name() {
                return NAME;
            }

            @Override
            public Plugin create(PluginContext context) throws ConfigException {
                return LogUsageToLogAnalytics.create(context, access);
            }

            /** It reads only its own settings: with the same ones its queue and spool go on as they are. */
            @Override
            public Plugin reload(Plugin running, PluginContext runningContext, PluginContext context) {
                return running;
            }
        };
    }

    static LogUsageToLogAnalytics create(PluginContext context, AzureAccess access) throws ConfigException {
        LogAnalyticsSettings settings = LogAnalyticsSettings.parse(context);
        String path = context.settings().path();
        HttpClient http = access.httpClient() != null ? access.httpClient() : new JdkHttpClientBuilder()
                .connectionTimeout(CONNECT_TIMEOUT).responseTimeout(RESPONSE_TIMEOUT).build();
        TokenCredential credential;
        try {
            credential = access.credential() != null ? access.credential() : credential(settings, access, http);
        } catch (RuntimeException e) {
            throw new ConfigException(path + ": cannot set up " + settings.credentialDescription() + ": "
                    + withoutSecret(e.getMessage(), settings));
        }
        LogsIngestionClient client;
        try {
            client = new LogsIngestionClientBuilder()
                    .endpoint(settings.endpoint().toString())
                    .credential(credential)
                    .httpClient(http)
                    // The upload thread retries, with a backoff of its own and the journal behind it; SDK retries
                    // would only hold it up meanwhile.
                    .retryOptions(new RetryOptions(new FixedDelayOptions(0, Duration.ofMillis(1))))
                    .buildClient();
        } catch (RuntimeException e) {
            throw new ConfigException(path + ".log_ingestion_endpoint cannot be used: " + e.getMessage());
        }
        Path spoolDir = settings.logDir().resolve(SPOOL_DIR);
        Spool spool;
        try {
            spool = Spool.open(spoolDir);
        } catch (IOException | RuntimeException e) {
            client.close();
            throw new ConfigException(path + ".log_dir '" + settings.logDir() + "' cannot hold the spool " + spoolDir
                    + ": " + e.getMessage());
        }
        DeadLetterFile deadLetters = new DeadLetterFile(settings.logDir().resolve(DEAD_LETTER_FILE));
        UsageSinkMetrics rows = context.metrics().usageSink(NAME);
        rows.spooled(spool::pending);
        LogAnalyticsUploader uploader = new LogAnalyticsUploader(client, settings.ruleId(), settings.streamName(),
                deadLetters, rows);
        boolean extended = settings.extendedColumns();
        Duration firstRetry = FIRST_RETRY.compareTo(settings.retryMax()) < 0 ? FIRST_RETRY : settings.retryMax();
        LogAnalyticsDelivery delivery = LogAnalyticsDelivery.start(uploader, spool, settings.batchMaxRows(),
                settings.batchMaxAge(), new LogAnalyticsDelivery.Backoff(firstRetry, settings.retryMax()));
        String columns = settings.originalTable() ? "the original's columns and values"
                : extended ? "extended columns" : "the original's columns";
        LOG.info("{}: usage records go to stream {} of rule {} at {} as {}, {}; spool in {}, rejected rows to {}", NAME,
                settings.streamName(), settings.ruleId(), settings.endpoint(), settings.credentialDescription(), columns,
                spoolDir, deadLetters.file());
        return new LogUsageToLogAnalytics(delivery, client, extended, settings.originalTable(), rows);
    }

    /** The credential the settings choose: the service principal, else the user-assigned identity, else the default. */
    private static TokenCredential credential(LogAnalyticsSettings settings, AzureAccess access, HttpClient http) {
        LogAnalyticsSettings.ServicePrincipal principal = settings.servicePrincipal();
        if (principal != null) {
            ClientSecretCredentialBuilder builder = new ClientSecretCredentialBuilder()
                    .tenantId(principal.tenantId())
                    .clientId(principal.clientId())
                    .clientSecret(principal.clientSecret())
                    .httpClient(http);
            if (access.authorityHost() != null) {
                builder.authorityHost(access.authorityHost()).disableInstanceDiscovery();
            }
            return builder.build();
        }
        if (settings.managedIdentityClientId() != null) {
            return new ManagedIdentityCredentialBuilder().clientId(settings.managedIdentityClientId()).httpClient(http)
                    .build();
        }
        return new DefaultAzureCredentialBuilder().httpClient(http).build();
    }

    private static String withoutSecret(String message, LogAnalyticsSettings settings) {
        if (message == null) {
            return "(no details)";
        }
        LogAnalyticsSettings.ServicePrincipal principal = settings.servicePrincipal();
        return principal == null ? message : message.replace(principal.clientSecret(), "****");
    }

    /** Appends the record to the journal before it returns; never throws. */
    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        String row = originalTable ? LogAnalyticsRows.originalJson(usage) : LogAnalyticsRows.json(usage, extendedColumns);
        try {
            delivery.journal(row);
            rows.queued(1);
        } catch (IOException | RuntimeException e) {
            rows.lost(1);
            LOG.error("{}: usage record not written (the journal failed: {}): {}", NAME, e, row);
        }
    }

    @Override
    public String readinessProblem() {
        return delivery.problem();
    }

    /** Uploads what the journal holds (unless Log Analytics fails), stops the upload thread, releases the journal; once. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        delivery.close(FLUSH_TIMEOUT);
        try {
            client.close();
        } catch (IllegalStateException shuttingDown) {
            // Closed from a JVM shutdown hook: the client cannot unregister its own hook then, which stops its pool.
        }
    }
}
