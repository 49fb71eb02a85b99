package io.powerproxy.loganalytics;

import io.powerproxy.plugins.OriginalFormat;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.json.Json;
import io.powerproxy.usage.UsageRecord;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * A usage record as a row of the Log Analytics table {@code AzureOpenAIUsage_PP_CL}: one JSON object whose keys are
 * the columns of the DCR stream (see {@code deploy/log-analytics/}), in this order, with JSON null for what is missing;
 * or, for a table the original's deployment script created, the row exactly as the original sent it.
 */
public final class LogAnalyticsRows {

    /** The columns of the original's DCR stream, in its order. */
    public static final List<String> COLUMNS = List.of("RequestReceivedUtc", "Client", "IsStreaming", "PromptTokens",
            "CompletionTokens", "TotalTokens", "AoaiRoundtripTimeMS", "AoaiRegion", "AoaiEndpoint",
            "AoaiVirtualDeployment", "AoaiStandinDeployment", "AoaiApiVersion");
    /** The columns sent only with {@code extended_columns: true}; a DCR that does not declare them drops them. */
    public static final List<String> EXTENDED_COLUMNS = List.of("StatusCode", "Operation", "Model", "UsageSource", "RequestId",
            "TraceId");

    private static final ObjectMapper JSON = Json.MAPPER;

    private LogAnalyticsRows() {
    }

    /**
     * The row the original sent (app/plugins/LogUsage/LogUsageToLogAnalytics.py, lines 124-137), for the table its
     * Deploy-ToAzure.ps1 created (lines 214-231: {@code RequestReceivedUtc=string}, {@code AoaiRoundtripTimeMS=int}):
     * its keys in its order, {@code RequestReceivedUtc} as Python's {@code str()} of the datetime,
     * {@code AoaiRoundtripTimeMS} a whole number, null for a missing region or deployment, and an empty API version
     * when the request had none.
     */
    public static String originalJson(UsageRecord usage) {
        ObjectNode row = JSON.createObjectNode();
        row.put("Client", usage.client());
        row.put("RequestReceivedUtc", OriginalFormat.timestamp(usage.requestReceivedUtc()));
        row.put("IsStreaming", usage.isStreaming());
        row.put("PromptTokens", usage.promptTokens());
        row.put("CompletionTokens", usage.completionTokens());
        row.put("TotalTokens", usage.totalTokens());
        row.put("AoaiRoundtripTimeMS", OriginalFormat.roundtripMs(usage));
        row.put("AoaiRegion", usage.aoaiRegion());
        row.put("AoaiEndpoint", usage.aoaiEndpoint());
        row.put("AoaiVirtualDeployment", OriginalFormat.virtualDeployment(usage));
        row.put("AoaiStandinDeployment", usage.aoaiStandinDeployment());
        row.put("AoaiApiVersion", usage.aoaiApiVersion() == null ? "" : usage.aoaiApiVersion());
        return write(row);
    }

    /** The row of a usage record as single-line JSON, with the extended columns or without them. */
    public static String json(UsageRecord usage, boolean extended) {
        ObjectNode row = JSON.createObjectNode();
        row.put("RequestReceivedUtc", usage.requestReceivedUtc().toString());
        row.put("Client", usage.client());
        row.put("IsStreaming", usage.isStreaming());
        row.put("PromptTokens", usage.promptTokens());
        row.put("CompletionTokens", usage.completionTokens());
        row.put("TotalTokens", usage.totalTokens());
        row.put("AoaiRoundtripTimeMS", usage.aoaiRoundtripTimeMs());
        row.put("AoaiRegion", usage.aoaiRegion());
        row.put("AoaiEndpoint", usage.aoaiEndpoint());
        row.put("AoaiVirtualDeployment", usage.aoaiVirtualDeployment());
        row.put("AoaiStandinDeployment", usage.aoaiStandinDeployment());
        row.put("AoaiApiVersion", usage.aoaiApiVersion());
        if (extended) {
            row.put("StatusCode", usage.statusCode());
            row.put("Operation", usage.operation().label());
            row.put("Model", usage.model());
            row.put("UsageSource", usage.usageSource().label());
            row.put("RequestId", usage.requestId());
            row.put("TraceId", usage.traceId());
        }
        return write(row);
    }

    private static String write(ObjectNode row) {
        try {
            return JSON.writeValueAsString(row);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
