package io.powerproxy.testing;

import io.powerproxy.usage.UsageRecord;
import java.time.Instant;

/**
 * A {@link UsageRecord} builder for tests: a plausible chat record (Team A, Sweden, gpt-4o, 200, reported counts)
 * whose fields a test changes only where it cares, instead of spelling out all seventeen.
 */
public final class TestUsageRecord {

    private Instant received = Instant.parse("2026-01-05T10:00:00Z");
    private String client = "Team A";
    private boolean streaming;
    private long promptTokens = 1;
    private long completionTokens = 1;
    private double roundtripMs = 1;
    private String region;
    private String endpoint = "Sweden";
    private String virtualDeployment = "gpt-4o";
    private String standinDeployment;
    private String apiVersion = "2024-10-21";
    private int status = 200;
    private UsageRecord.Operation operation = UsageRecord.Operation.CHAT;
    private String model = "gpt-4o";
    private UsageRecord.UsageSource source = UsageRecord.UsageSource.REPORTED;
    private String requestId = "req-1";

    private TestUsageRecord() {
    }

    public static TestUsageRecord of(String requestId) {
        TestUsageRecord record = new TestUsageRecord();
        record.requestId = requestId;
        return record;
    }

    public TestUsageRecord received(Instant at) {
        received = at;
        return this;
    }

    public TestUsageRecord client(String name) {
        client = name;
        return this;
    }

    public TestUsageRecord streaming(boolean streamed) {
        streaming = streamed;
        return this;
    }

    /** The prompt and completion counts; the total is their sum, as the proxy makes it. */
    public TestUsageRecord tokens(long prompt, long completion) {
        promptTokens = prompt;
        completionTokens = completion;
        return this;
    }

    public TestUsageRecord roundtripMs(double millis) {
        roundtripMs = millis;
        return this;
    }

    public TestUsageRecord region(String name) {
        region = name;
        return this;
    }

    public TestUsageRecord endpoint(String name) {
        endpoint = name;
        return this;
    }

    public TestUsageRecord deployment(String virtual, String standin) {
        virtualDeployment = virtual;
        standinDeployment = standin;
        return this;
    }

    public TestUsageRecord apiVersion(String version) {
        apiVersion = version;
        return this;
    }

    public TestUsageRecord status(int code) {
        status = code;
        return this;
    }

    public TestUsageRecord model(String name) {
        model = name;
        return this;
    }

    public TestUsageRecord operation(UsageRecord.Operation kind) {
        operation = kind;
        return this;
    }

    public TestUsageRecord source(UsageRecord.UsageSource from) {
        source = from;
        return this;
    }

    public UsageRecord build() {
        return new UsageRecord(received, client, streaming, promptTokens, completionTokens,
                promptTokens + completionTokens, roundtripMs, region, endpoint, virtualDeployment, standinDeployment,
                apiVersion, status, operation, model, source, requestId);
    }
}
