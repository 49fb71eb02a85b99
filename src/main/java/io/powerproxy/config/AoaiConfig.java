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
 * @param objectAffinity whether follow-up calls on an object go to the endpoint that created it
 * @param headroom routing by the rate limit the targets have left ({@link HeadroomConfig#DEFAULTS} when not set)
 */
public record AoaiConfig(List<EndpointConfig> endpoints, Pattern forwardHeaderOnlyIfNameMatches, MockResponse mockResponse,
        ObjectAffinityConfig objectAffinity, HeadroomConfig headroom) {

    public AoaiConfig {
        endpoints = List.copyOf(endpoints);
    }

    /** The section without {@code object_affinity} and {@code headroom} settings, which keeps both at their defaults. */
    public AoaiConfig(List<EndpointConfig> endpoints, Pattern forwardHeaderOnlyIfNameMatches, MockResponse mockResponse) {
        this(endpoints, forwardHeaderOnlyIfNameMatches, mockResponse, ObjectAffinityConfig.DEFAULT, HeadroomConfig.DEFAULTS);
    }
}
