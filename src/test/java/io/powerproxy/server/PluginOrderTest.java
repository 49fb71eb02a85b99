package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.usage.UsageRecord;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** Plugins see every hook in the order of the config, and are closed in the reverse order. */
class PluginOrderTest {

    /** Notes "name hook" for each call it gets. */
    private record Noting(String name, List<String> calls) implements Plugin {
        @Override
        public void onRequestReceived(Exchange exchange) {
            calls.add(name + " requestReceived");
        }

        @Override
        public void onClientIdentified(Exchange exchange) {
            calls.add(name + " clientIdentified");
        }

        @Override
        public void onRequestReady(Exchange exchange) {
            calls.add(name + " requestReady");
        }

        @Override
        public void onResponseHeaders(Exchange exchange) {
            calls.add(name + " responseHeaders");
        }

        @Override
        public void onResponseBody(Exchange exchange, ByteBuffer body) {
            calls.add(name + " responseBody");
        }

        @Override
        public void onUsage(Exchange exchange, UsageRecord usage) {
            calls.add(name + " usage");
        }

        @Override
        public void onRequestEnded(Exchange exchange) {
            calls.add(name + " requestEnded");
        }

        @Override
        public void close() {
            calls.add(name + " close");
        }
    }

    @Test
    void eachHookCallsThePluginsInConfigOrderAndCloseGoesInReverse() {
        List<String> calls = new CopyOnWriteArrayList<>();
        String yaml = Configs.withAoai("""
                mock_response:
                  json: {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                """);
        ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(new Noting("first", calls), new Noting("second", calls)));
        assertEquals(200, proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=1", Configs.TEAM_A_KEY,
                "{}").statusCode());
        proxy.stop();

        assertEquals(List.of(
                "first requestReceived", "second requestReceived",
                "first clientIdentified", "second clientIdentified",
                "first requestReady", "second requestReady",
                "first responseHeaders", "second responseHeaders",
                "first responseBody", "second responseBody",
                "first usage", "second usage",
                "first requestEnded", "second requestEnded",
                "second close", "first close"), calls);
    }
}
