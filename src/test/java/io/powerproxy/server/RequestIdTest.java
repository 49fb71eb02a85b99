package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every proxied request's answer names its request id, refusals included; the health probes' answers do not. */
class RequestIdTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String REQUEST_ID = "x-powerproxy-request-id";

    private static ProxyHarness proxy() {
        return ProxyHarness.start(Configs.withAoai("""
                mock_response:
                  json: {"object": "chat.completion", "choices": []}
                """));
    }

    @Test
    void refusalsCarryARequestIdOfTheirOwn() {
        try (ProxyHarness proxy = proxy()) {
            List<HttpResponse<String>> refusals = List.of(
                    proxy.postJson(CHAT, "not-a-client-key", "{}"),
                    proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=1", Configs.TEAM_A_KEY, "not json"),
                    proxy.send(proxy.request("/openai/%2e%2e/x").header("api-key", Configs.TEAM_A_KEY).GET().build()));

            assertEquals(401, refusals.get(0).statusCode());
            assertEquals(400, refusals.get(2).statusCode());
            for (HttpResponse<String> refusal : refusals) {
                String id = refusal.headers().firstValue(REQUEST_ID).orElse("");
                assertTrue(id.matches("[0-9a-f]{16}"), refusal.statusCode() + " " + refusal.body() + " has id '" + id + "'");
            }
            assertEquals(3, refusals.stream().map(r -> r.headers().firstValue(REQUEST_ID).orElseThrow()).distinct().count());
        }
    }

    @Test
    void theHealthProbesAnswerWithoutARequestId() {
        try (ProxyHarness proxy = proxy()) {
            for (String probe : List.of("/powerproxy/health/liveness", "/powerproxy/health/readiness")) {
                HttpResponse<String> response = proxy.send(proxy.request(probe).GET().build());

                assertTrue(response.statusCode() < 300, probe + " → " + response.statusCode());
                assertTrue(response.headers().firstValue(REQUEST_ID).isEmpty(), probe + " has a request id");
            }
        }
    }
}
