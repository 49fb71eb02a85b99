package io.powerproxy.config;

import java.time.Duration;

/**
 * {@code aoai.mock_response}: the proxy answers every request itself.
 *
 * @param waitBeforeReturn how long to wait before answering
 * @param json the JSON document to answer with, serialised
 */
public record MockResponse(Duration waitBeforeReturn, String json) {
}
