package io.powerproxy.loganalytics;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.azure.core.exception.HttpResponseException;
import com.azure.core.http.HttpHeaderName;
import com.azure.core.http.HttpResponse;
import com.azure.core.util.serializer.JsonSerializer;
import com.azure.core.util.serializer.TypeReference;
import com.azure.monitor.ingestion.LogsIngestionClient;
import com.azure.monitor.ingestion.models.LogsUploadError;
import com.azure.monitor.ingestion.models.LogsUploadOptions;
import io.powerproxy.pipeline.UsageSinkMetrics;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * Sends rows to the Logs Ingestion API in order, one request of at most {@value #MAX_REQUEST_BYTES} bytes at a time,
 * and stops at the first request that fails for a reason that may pass (network, 401/403, 404, 408, 429, 5xx), so
 * that nothing after it is sent before it. Rows the service rejects as invalid (400, 413) go to the dead-letter file
 * and are never sent again.
 *
 * <p>The SDK would split a larger upload into several requests by itself and report the failed ones only; keeping
 * each call to one request means a failure always covers a known run of rows, and the order holds.
 */
public final class LogAnalyticsUploader implements LogAnalyticsDelivery.Sender {

    /**
     * The most row bytes (UTF-8 JSON, before gzip) per request: below the SDK's 1,048,576, which it counts the same
     * way (commas and brackets not included), so that one upload call is always exactly one request.
     */
    static final long MAX_REQUEST_BYTES = 1_000_000;
    private static final Logger LOG = LoggerFactory.getLogger(LogAnalyticsUploader.class);
    private static final int MAX_ERROR_LENGTH = 500;
    private static final int MAX_LOGGED_ROW_LENGTH = 2000;

    private final LogsIngestionClient client;
    private final String ruleId;
    private final String streamName;
    private final DeadLetterFile deadLetters;
    private final UsageSinkMetrics rowsMetrics;

    public LogAnalyticsUploader(LogsIngestionClient client, String ruleId, String streamName, DeadLetterFile deadLetters) {
        this(client, ruleId, streamName, deadLetters, UsageSinkMetrics.NONE);
    }

    /** The same, counting the rows delivered and dead-lettered into {@code rowsMetrics}. */
    public LogAnalyticsUploader(LogsIngestionClient client, String ruleId, String streamName, DeadLetterFile deadLetters,
            UsageSinkMetrics rowsMetrics) {
        this.client = client;
        this.ruleId = ruleId;
        this.streamName = streamName;
        this.deadLetters = deadLetters;
        this.rowsMetrics = rowsMetrics;
    }

    @Override
    public LogAnalyticsDelivery.Result send(List<String> rows) {
        int done = 0;
        while (done < rows.size()) {
            int end = requestEnd(rows, done);
            LogAnalyticsDelivery.Failure failure;
            if (end == done) {
                end = done + 1;
                failure = tooLarge(rows.get(done));
            } else {
                failure = upload(rows.subList(done, end));
            }
            List<String> request = rows.subList(done, end);
            if (failure != null && failure.rejected()) {
                if (!deadLetter(request, failure)) {
                    return new LogAnalyticsDelivery.Result(done, failure.retryable(
                            "rejected rows cannot be written to " + deadLetters.file() + "; " + failure.message()));
                }
                rowsMetrics.deadLettered(request.size());
            } else if (failure != null) {
                return new LogAnalyticsDelivery.Result(done, failure);
            } else {
                rowsMetrics.written(request.size());
            }
            done = end;
        }
        return new LogAnalyticsDelivery.Result(done, null);
    }

    /** Where the request that starts at {@code from} ends; {@code from} itself when that row alone is too large. */
    private static int requestEnd(List<String> rows, int from) {
        long bytes = 0;
        int end = from;
        while (end < rows.size()) {
            long size = utf8Length(rows.get(end));
            if (bytes + size > MAX_REQUEST_BYTES) {
                break;
            }
            bytes += size;
            end++;
        }
        return end;
    }

    private LogAnalyticsDelivery.Failure upload(List<String> request) {
        AtomicReference<LogsUploadError> error = new AtomicReference<>();
        LogsUploadOptions options = new LogsUploadOptions()
                .setMaxConcurrency(1)
                .setObjectSerializer(RawJsonRows.INSTANCE)
                .setLogsUploadErrorConsumer(error::set);
        try {
            client.upload(ruleId, streamName, new ArrayList<Object>(request), options);
        } catch (RuntimeException e) {
            return new LogAnalyticsDelivery.Failure(Instant.now(), 0, describe(e), null);
        }
        LogsUploadError failed = error.get();
        return failed == null ? null : failure(failed.getResponseException());
    }

    private static LogAnalyticsDelivery.Failure failure(HttpResponseException e) {
        HttpResponse response = e.getResponse();
        if (response == null || response.getRequest() == null
                || !response.getRequest().getUrl().getPath().contains("/dataCollectionRules/")) {
            // No answer from the ingestion API itself (e.g. Entra ID refused the credential): never the rows' fault.
            return new LogAnalyticsDelivery.Failure(Instant.now(), 0, describe(e), null);
        }
        return new LogAnalyticsDelivery.Failure(Instant.now(), response.getStatusCode(), abbreviate(e.getMessage()),
                retryAfter(response.getHeaderValue(HttpHeaderName.RETRY_AFTER)));
    }

    private static LogAnalyticsDelivery.Failure tooLarge(String row) {
        return new LogAnalyticsDelivery.Failure(Instant.now(), 413, "the row has " + utf8Length(row)
                + " bytes, more than the " + MAX_REQUEST_BYTES + " a Logs Ingestion request may carry; it was not sent",
                null);
    }

    private boolean deadLetter(List<String> rows, LogAnalyticsDelivery.Failure failure) {
        try {
            deadLetters.append(rows, failure.status(), failure.message(), failure.at());
        } catch (IOException | RuntimeException e) {
            LOG.error("LogUsageToLogAnalytics: Log Analytics rejected {} rows ({}), and they cannot be written to {}: {};"
                    + " they will be sent again later", rows.size(), failure.describe(), deadLetters.file(), e.toString());
            return false;
        }
        LOG.error("LogUsageToLogAnalytics: Log Analytics rejected {} rows ({}); they are kept in {} and will not be sent"
                + " again; the first: {}", rows.size(), failure.describe(), deadLetters.file(), cut(rows.getFirst()));
        return true;
    }

    /** The delay a {@code Retry-After} header asks for, when it gives seconds. */
    private static Duration retryAfter(String header) {
        if (header == null) {
            return null;
        }
        try {
            long seconds = Long.parseLong(header.strip());
            return seconds > 0 ? Duration.ofSeconds(seconds) : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The failure and its root cause in one line, e.g. {@code UncheckedIOException: ConnectException: ...}. */
    static String describe(Throwable failure) {
        StringBuilder text = new StringBuilder(failure.getClass().getSimpleName());
        if (failure.getMessage() != null) {
            text.append(": ").append(failure.getMessage());
        }
        Throwable root = failure;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != failure && (failure.getMessage() == null || !failure.getMessage().contains(root.getClass().getName()))) {
            text.append(" (").append(root.getClass().getSimpleName());
            if (root.getMessage() != null) {
                text.append(": ").append(root.getMessage());
            }
            text.append(')');
        }
        return abbreviate(text.toString());
    }

    private static String abbreviate(String text) {
        if (text == null) {
            return "";
        }
        String line = text.replaceAll("\\s+", " ").strip();
        return line.length() <= MAX_ERROR_LENGTH ? line : line.substring(0, MAX_ERROR_LENGTH) + "...";
    }

    /** A row short enough for a log line; the dead-letter file has it whole. */
    private static String cut(String row) {
        return row.length() <= MAX_LOGGED_ROW_LENGTH ? row
                : row.substring(0, MAX_LOGGED_ROW_LENGTH) + "... (" + row.length() + " characters)";
    }

    private static long utf8Length(String text) {
        long bytes = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                bytes += 1;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                bytes += 4;
                i++;
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    /** Hands the SDK each row's JSON as it is: rows are serialized once, by {@link LogAnalyticsRows}. */
    private enum RawJsonRows implements JsonSerializer {
        INSTANCE;

        @Override
        public byte[] serializeToBytes(Object row) {
            return ((String) row).getBytes(UTF_8);
        }

        @Override
        public void serialize(OutputStream out, Object row) {
            try {
                out.write(serializeToBytes(row));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public Mono<Void> serializeAsync(OutputStream out, Object row) {
            return Mono.fromRunnable(() -> serialize(out, row));
        }

        @Override
        public <T> T deserialize(InputStream in, TypeReference<T> type) {
            throw new UnsupportedOperationException("rows are only sent");
        }

        @Override
        public <T> Mono<T> deserializeAsync(InputStream in, TypeReference<T> type) {
            return Mono.error(new UnsupportedOperationException("rows are only sent"));
        }
    }
}
