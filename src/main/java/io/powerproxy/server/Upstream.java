package io.powerproxy.server;

import io.powerproxy.mock.MockUpstream;
import io.powerproxy.upstream.Balancer;
import io.powerproxy.upstream.ForwardedHeaders;
import io.powerproxy.upstream.UpstreamClient;

/**
 * What the handler needs of the Azure OpenAI side.
 *
 * @param balancer chooses and tracks the configured targets
 * @param client sends requests to them
 * @param headerRules which headers cross the proxy
 * @param mock the built-in mock that answers instead of any endpoint (§9), or null
 */
record Upstream(Balancer balancer, UpstreamClient client, ForwardedHeaders headerRules, MockUpstream mock) {
}
