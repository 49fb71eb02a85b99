package io.powerproxy.server;

import io.powerproxy.affinity.ObjectAffinity;
import io.powerproxy.mock.MockUpstream;
import io.powerproxy.upstream.Failover;
import io.powerproxy.upstream.ForwardedHeaders;

/**
 * What the handler needs of the Azure OpenAI side.
 *
 * @param failover sends a request to the configured targets, in turn until one answers
 * @param headerRules which headers cross the proxy
 * @param mock the built-in mock that answers instead of any endpoint (the config's {@code mock_response}), or null
 * @param affinity keeps calls on an object at the endpoint that owns it
 */
record Upstream(Failover failover, ForwardedHeaders headerRules, MockUpstream mock, ObjectAffinity affinity) {
}
