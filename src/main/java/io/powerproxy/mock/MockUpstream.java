package io.powerproxy.mock;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.config.MockResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * The upstream that {@code aoai.mock_response} puts in place of Azure: it answers every request with the
 * configured JSON, and a streaming request with the same content as a well-formed SSE stream.
 *
 * <p>All three bodies are built once, at creation, so that load tests of the proxy alone measure the proxy.
 * The mock does not wait; the caller waits {@link #waitBeforeReturn()} before it sends the answer.
 */
public final class MockUpstream {

    static final String JSON = "application/json";
    static final String EVENT_STREAM = "text/event-stream; charset=utf-8";

    private final Duration waitBeforeReturn;
    private final byte[] body;
    private final byte[] stream;
    private final byte[] streamWithUsage;

    private MockUpstream(Duration waitBeforeReturn, byte[] body, byte[] stream, byte[] streamWithUsage) {
        this.waitBeforeReturn = waitBeforeReturn;
        this.body = body;
        this.stream = stream;
        this.streamWithUsage = streamWithUsage;
    }

    /**
     * Checks the configured answer and prepares the bodies.
     *
     * @param config {@code aoai.mock_response}
     * @return the mock
     * @throws IllegalArgumentException when the wait is negative or the JSON is not a JSON object
     */
    public static MockUpstream create(MockResponse config) {
        Objects.requireNonNull(config, "config");
        Duration wait = config.waitBeforeReturn() == null ? Duration.ZERO : config.waitBeforeReturn();
        if (wait.isNegative()) {
            throw new IllegalArgumentException(
                    "aoai.mock_response.ms_to_wait_before_return must not be negative: " + wait.toMillis());
        }
        if (config.json() == null) {
            throw new IllegalArgumentException("aoai.mock_response.json is missing");
        }
        ObjectMapper mapper = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
        JsonNode answer;
        try {
            answer = mapper.readTree(config.json());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("aoai.mock_response.json is not valid JSON: " + e.getOriginalMessage());
        }
        if (answer == null || !answer.isObject()) {
            String found = answer == null || answer.isMissingNode()
                    ? "nothing" : answer.getNodeType().name().toLowerCase(Locale.ROOT);
            throw new IllegalArgumentException("aoai.mock_response.json must be a JSON object, found " + found);
        }
        ObjectNode object = (ObjectNode) answer;
        return new MockUpstream(wait, config.json().getBytes(StandardCharsets.UTF_8),
                MockStream.of(mapper, object, false), MockStream.of(mapper, object, true));
    }

    /** Returns how long the caller waits before sending an answer ({@code ms_to_wait_before_return}). */
    public Duration waitBeforeReturn() {
        return waitBeforeReturn;
    }

    /**
     * Returns the answer to one request, without waiting.
     *
     * @param streaming whether the request asked for {@code "stream": true}
     * @param includeUsage whether it asked for {@code stream_options.include_usage}; only used when streaming
     * @return status 200 with the configured JSON, or with an SSE stream of the same content
     */
    public MockAnswer answer(boolean streaming, boolean includeUsage) {
        if (!streaming) {
            return new MockAnswer(200, JSON, body.clone());
        }
        return new MockAnswer(200, EVENT_STREAM, (includeUsage ? streamWithUsage : stream).clone());
    }
}
