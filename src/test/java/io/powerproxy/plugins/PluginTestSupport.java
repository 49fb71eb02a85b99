package io.powerproxy.plugins;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.ExchangeState;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.TestUsageRecord;
import io.powerproxy.usage.UsageRecord;
import java.time.Instant;
import java.util.Map;

/** Builds plugin contexts from YAML and plain exchanges, for tests of one plugin at a time. */
final class PluginTestSupport {

    private PluginTestSupport() {
    }

    /** A config with the given clients section (YAML list items under {@code clients:}) and one plugin entry. */
    static PluginContext context(String clientsYaml, String pluginYaml) throws Exception {
        ProxyConfig config = ConfigLoader.parse("clients:\n" + clientsYaml.indent(2) + "plugins:\n" + pluginYaml.indent(2)
                + "aoai:\n  mock_response:\n    json: {\"ok\": true}\n");
        return new PluginContext(config.plugins().get(0), config);
    }

    /** The context of the last of the given plugins (YAML list items) in a config with one client, Team A. */
    static PluginContext context(String pluginsYaml) throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                clients:
                  - name: Team A
                    key: team-a-key-0123456789
                plugins:
                %s
                aoai:
                  mock_response:
                    json: {"ok": true}
                """.formatted(pluginsYaml.indent(2).stripTrailing()));
        return new PluginContext(config.plugins().getLast(), config);
    }

    /** An exchange of the n-th client of the context, asking for a deployment (or none). */
    static Exchange exchange(PluginContext context, int client, String deployment) {
        ExchangeState exchange = new ExchangeState("req-" + System.nanoTime(), Instant.now(), System.nanoTime(), "POST",
                "/openai/deployments/" + deployment + "/chat/completions", null, Map.of());
        exchange.client(context.clients().get(client));
        exchange.deployment(deployment);
        return exchange.view();
    }

    /** An exchange of the n-th client of the context, asking a deployment's chat completions with a JSON body. */
    static Exchange exchange(PluginContext context, int client, String deployment, String json) {
        return exchange(context, client, deployment, "/openai/deployments/" + deployment + "/chat/completions", json);
    }

    /** An exchange of the n-th client of the context, on a path, with a JSON body. */
    static Exchange exchange(PluginContext context, int client, String deployment, String path, String json) {
        ExchangeState exchange = new ExchangeState("req-" + System.nanoTime(), Instant.now(), System.nanoTime(), "POST",
                path, null, Map.of());
        exchange.client(context.clients().get(client));
        exchange.deployment(deployment);
        exchange.requestBody(json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return exchange.view();
    }

    static UsageRecord usage(Exchange exchange, long totalTokens) {
        return TestUsageRecord.of(exchange.requestId()).received(exchange.receivedAt()).client(exchange.client().name())
                .tokens(totalTokens / 2, totalTokens - totalTokens / 2).roundtripMs(12.5).region("Sweden Central")
                .deployment(exchange.deployment(), null).build();
    }
}
