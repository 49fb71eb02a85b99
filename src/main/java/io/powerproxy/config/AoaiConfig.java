package io.powerproxy.config;

import java.util.List;
import java.util.regex.Pattern;

/**
 * The {@code aoai} section.
 *
 * @param endpoints the Azure OpenAI endpoints, in config order
 * @param forwardHeaderOnlyIfNameMatches when set, only request headers whose lower-case name matches it at the
 *     start (Python's {@code re.match}) are forwarded; null forwards all
 * @param mockResponse when set, the proxy answers every request itself; null otherwise
 * @param headroom routing by the rate limit the targets have left ({@link HeadroomConfig#DEFAULTS} when not set)
 */
public record AoaiConfig(List<EndpointConfig> endpoints, Pattern forwardHeaderOnlyIfNameMatches, MockResponse mockResponse,
        HeadroomConfig headroom) {

    public AoaiConfig {
        endpoints = List.copyOf(endpoints);
    }
}
