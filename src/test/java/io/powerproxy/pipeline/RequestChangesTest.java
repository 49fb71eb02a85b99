package io.powerproxy.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** A plugin's changes to the request, against a plain exchange: what may change, and when they take effect. */
class RequestChangesTest {

    private static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5000}";

    private static ExchangeState exchange(String body, String query) {
        ExchangeState state = new ExchangeState("req-1", Instant.now(), System.nanoTime(), "POST",
                "/openai/deployments/gpt-4o/chat/completions", query,
                Map.of("Api-key", List.of("secret"), "X-trace", List.of("1"), "X-drop", List.of("gone")));
        state.requestBody(body.getBytes(StandardCharsets.UTF_8));
        return state;
    }

    /** A plugin whose onClientIdentified runs the given code. */
    private record OnClientIdentified(Consumer<Exchange> hook) implements Plugin {
        @Override
        public void onClientIdentified(Exchange exchange) {
            hook.accept(exchange);
        }
    }

    @Test
    void theChangesOfEveryPluginAreAppliedOnceAfterTheLastOneAndThenShownToLaterHooks() {
        ExchangeState state = exchange(BODY, "api-version=2024-10-21&x=1");
        List<String> seenDuringTheHook = new ArrayList<>();
        Pipeline pipeline = Pipeline.of(List.of(
                new OnClientIdentified(exchange -> exchange.changeRequest()
                        .setBodyField("max_tokens", 100).setBodyField("user", "alice").removeBodyField("nothing")
                        .setHeader("x-team", "a").addHeader("x-trace", "2").removeHeader("x-drop")
                        .setQueryParameter("api-version", "2024-06-01").setQueryParameter("note", "a b&c")),
                new OnClientIdentified(exchange -> seenDuringTheHook.add(exchange.requestJson().get("max_tokens").asText()
                        + " " + exchange.requestHeader("x-team") + " " + exchange.query()))));

        pipeline.clientIdentified(state);

        assertEquals(List.of("5000 null api-version=2024-10-21&x=1"), seenDuringTheHook,
                "plugins in the request hooks see the request as the client sent it");
        Exchange view = state.view();
        assertEquals("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100,\"user\":\"alice\"}",
                new String(state.requestBody(), StandardCharsets.UTF_8));
        assertEquals(100, view.requestJson().get("max_tokens").asInt());
        byte[] shown = new byte[view.requestBody().remaining()];
        view.requestBody().get(shown);
        assertArrayEquals(state.requestBody(), shown, "later hooks see the bytes that go upstream");
        assertEquals("a", view.requestHeader("X-Team"));
        assertEquals(List.of("1", "2"), view.requestHeaders().get("x-trace"));
        assertNull(view.requestHeader("x-drop"));
        assertEquals("secret", view.requestHeader("api-key"), "the credentials are the core's to replace");
        assertEquals("x=1&api-version=2024-06-01&note=a%20b%26c", state.query());
        assertThrows(IllegalStateException.class, view::changeRequest, "the request has gone upstream");
    }

    @Test
    void withoutChangesTheClientsBytesStayTheSameArray() {
        ExchangeState state = exchange(BODY, null);
        byte[] received = state.requestBody();

        Pipeline.of(List.of(new OnClientIdentified(exchange -> exchange.requestJson()))).clientIdentified(state);

        assertTrue(received == state.requestBody(), "no copy, no re-serialisation");
    }

    @Test
    void whatTheProxyOwnsCannotBeChangedAndTheMessageSaysWhy() {
        ExchangeState state = exchange(BODY, null);
        state.openForChanges();
        RequestChanges changes = state.view().changeRequest();

        assertEquals("the header 'Api-Key' cannot be changed by a plugin: the proxy sets it itself",
                assertThrows(IllegalArgumentException.class, () -> changes.setHeader("Api-Key", "mine")).getMessage());
        for (String owned : List.of("authorization", "host", "content-length", "transfer-encoding", "connection",
                "accept-encoding", "proxy-authorization", "traceparent", "Tracestate")) {
            assertThrows(IllegalArgumentException.class, () -> changes.removeHeader(owned), owned);
        }
        assertEquals("the body field 'model' cannot be changed by a plugin: the proxy chooses the deployment and"
                + " counts the usage by it",
                assertThrows(IllegalArgumentException.class, () -> changes.setBodyField("model", "gpt-4o")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> changes.removeBodyField("stream"));
        assertEquals("the value for header 'x-a' has a character that HTTP headers cannot carry, at index 1",
                assertThrows(IllegalArgumentException.class, () -> changes.setHeader("x-a", "a\r\nb: c")).getMessage());
        assertEquals("not a header name: 'x a'",
                assertThrows(IllegalArgumentException.class, () -> changes.addHeader("x a", "b")).getMessage());
    }

    @Test
    void theBodyCanOnlyBeChangedOnceReadAndWhenItIsAJsonObject() {
        ExchangeState unread = new ExchangeState("req-1", Instant.now(), System.nanoTime(), "POST", "/x", null, Map.of());
        unread.openForChanges();
        assertEquals("the body is read after onRequestReceived: change its fields in onClientIdentified",
                assertThrows(IllegalStateException.class,
                        () -> unread.view().changeRequest().setBodyField("user", "a")).getMessage());

        ExchangeState notJson = exchange("[1, 2]", null);
        notJson.openForChanges();
        assertEquals("the request body is not a JSON object (check that exchange.requestJson() is not null before"
                + " changing its fields)", assertThrows(IllegalStateException.class,
                        () -> notJson.view().changeRequest().setBodyField("user", "a")).getMessage());
    }
}
