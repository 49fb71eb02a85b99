package io.powerproxy.plugins;

import static io.powerproxy.plugins.PluginTestSupport.context;
import static io.powerproxy.plugins.PluginTestSupport.exchange;
import static io.powerproxy.plugins.PluginTestSupport.usage;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.TokenDemand;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * LimitUsage with {@code admission: reserve} (the default): a request holds its prompt estimate plus its completion
 * bound before it goes upstream, and settles to its real usage at the end; on an injected clock.
 */
class LimitUsageReserveTest {

    /** Team 1 may use 1,000 tokens per minute on gpt-4o. */
    private static final String CLIENTS = """
            - name: Team 1
              key: team-1-key-0123456789
              max_tokens_per_minute_in_k:
                gpt-4o: 1
            """;
    private static final String RESERVE = "- name: LimitUsage";

    /** 12:00:15.250 on some day, in epoch ms. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_250L);

    private LimitUsage plugin(String pluginYaml) throws Exception {
        return LimitUsage.create(context(CLIENTS, pluginYaml), now::get);
    }

    private static String ask(long maxTokens) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":" + maxTokens + "}";
    }

    private static Exchange chat(PluginContext context, String json) {
        return exchange(context, 0, "gpt-4o", json);
    }

    @Test
    void requestsInFlightHoldTheirTokensSoThatTogetherTheyStayWithinTheBudget() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);

        int admitted = 0;
        for (int i = 0; i < 20; i++) {
            try {
                plugin.onRequestReady(chat(context, ask(92)));
                admitted++;
            } catch (ProxyException refused) {
                assertEquals(429, refused.status());
            }
        }

        assertEquals(10, admitted, "10 x (8 + 92) = 1000 tokens held, none of them settled yet");
    }

    @Test
    void settlingGivesBackWhatTheRequestDidNotUse() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);
        Exchange first = chat(context, ask(900));
        plugin.onRequestReady(first);
        assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(900))), "908 of 1000 held");

        plugin.onUsage(first, usage(first, 10));
        plugin.onRequestEnded(first);

        Exchange second = chat(context, ask(900));
        assertDoesNotThrow(() -> plugin.onRequestReady(second), "10 used, 990 left for the next 908");
        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(82))));
        assertEquals("82", refused.headers().get("x-ratelimit-remaining-tokens"), "1000 - 10 - 908");
    }

    @Test
    void aRequestThatEndsWithoutAUsageRecordGivesBackAllItHeld() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);
        Exchange refusedLater = chat(context, ask(900));
        plugin.onRequestReady(refusedLater);

        plugin.onRequestEnded(refusedLater);
        plugin.onRequestEnded(refusedLater);

        Exchange next = chat(context, ask(992));
        assertDoesNotThrow(() -> plugin.onRequestReady(next), "the whole budget is free again, once");
        plugin.onUsage(next, usage(next, 1000));
        assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(0))));
    }

    @Test
    void aRefusalCarriesRetryAfterToTheNextMinuteAndTheRoomLeft() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);
        plugin.onRequestReady(chat(context, ask(692)));

        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(400))));

        assertEquals(429, refused.status());
        assertEquals("TooManyRequests", refused.code());
        assertEquals("44750", refused.headers().get("retry-after-ms"));
        assertEquals("45", refused.headers().get("retry-after"));
        assertEquals("300", refused.headers().get("x-ratelimit-remaining-tokens"));
        assertEquals("Client 'Team 1' has 700 of its 1000 tokens per minute for deployment 'gpt-4o' used or held by"
                + " requests in flight, and this request may use up to 408 tokens (about 8 of prompt and its completion"
                + " bound of 400). Retry after 45 s, when the next minute starts, or ask for fewer tokens (max_tokens).",
                refused.getMessage());

        now.addAndGet(44_750);
        assertDoesNotThrow(() -> plugin.onRequestReady(chat(context, ask(400))), "the next minute has room");
    }

    @Test
    void aRequestLargerThanTheWholeBudgetRunsAloneAtTheStartOfAMinuteRatherThanNever() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);

        Exchange large = chat(context, ask(4000));
        assertDoesNotThrow(() -> plugin.onRequestReady(large), "nothing of this minute was used or held");
        assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(0))),
                "it holds the whole minute");
        plugin.onUsage(large, usage(large, 300));
        assertDoesNotThrow(() -> plugin.onRequestReady(chat(context, ask(92))), "settled at 300: room for 100");
        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(4000))));

        assertTrue(refused.getMessage().startsWith("Client 'Team 1' has 1000 tokens per minute for deployment 'gpt-4o',"
                + " and this request may use up to 4008 tokens (about 8 of prompt and its completion bound of 4000),"
                + " more than the whole budget: it runs only when nothing else of a minute is used or held."),
                refused.getMessage());
    }

    @Test
    void aBudgetOfZeroRefusesEveryRequest() throws Exception {
        LimitUsage plugin = LimitUsage.create(context("""
                - name: Team 1
                  key: team-1-key-0123456789
                  max_tokens_per_minute_in_k: 0
                """, RESERVE), now::get);
        PluginContext context = context(CLIENTS, RESERVE);

        assertEquals(429, assertThrows(ProxyException.class,
                () -> plugin.onRequestReady(exchange(context, 0, "gpt-4o", ask(1)))).status());
    }

    @Test
    void aRequestWithoutBoundHoldsTheDefaultCompletionTokensAndAnEmbeddingNone() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE + "\n  default_completion_tokens: 292");
        LimitUsage plugin = LimitUsage.create(context, now::get);
        String unbounded = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

        plugin.onRequestReady(chat(context, unbounded));
        plugin.onRequestReady(chat(context, unbounded));
        String embedding = "{\"input\":\"" + "Hello there. ".repeat(50) + "\"}";
        long embeddingTokens = TokenDemand.of(Json.MAPPER.readTree(embedding), "gpt-4o").promptTokens();
        plugin.onRequestReady(exchange(context, 0, "gpt-4o", "/openai/deployments/gpt-4o/embeddings", embedding));
        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, unbounded)));

        assertEquals(Long.toString(1000 - 2 * 300 - embeddingTokens), refused.headers().get("x-ratelimit-remaining-tokens"),
                "two chats of 8 + 292, and the embedding's input alone");
        assertTrue(refused.getMessage().contains("(about 8 of prompt and 292 of completion: LimitUsage's"
                + " default_completion_tokens, as it sets no max_tokens)"), refused.getMessage());
    }

    @Test
    void aRequestForSeveralChoicesHoldsItsBoundForEach() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);

        plugin.onRequestReady(chat(context, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                + "\"max_tokens\":100,\"n\":3}"));

        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(700))));
        assertEquals("692", refused.headers().get("x-ratelimit-remaining-tokens"), "1000 - (8 + 3 x 100)");
    }

    @Test
    void aRequestSettlesIntoTheMinuteItWasAdmittedIn() throws Exception {
        PluginContext context = context(CLIENTS, RESERVE);
        LimitUsage plugin = LimitUsage.create(context, now::get);
        now.set(1_764_072_059_900L);
        Exchange late = chat(context, ask(992));
        plugin.onRequestReady(late);

        now.addAndGet(200);
        Exchange next = chat(context, ask(492));
        plugin.onRequestReady(next);
        plugin.onUsage(late, usage(late, 5000));

        ProxyException refused = assertThrows(ProxyException.class, () -> plugin.onRequestReady(chat(context, ask(600))));
        assertEquals("500", refused.headers().get("x-ratelimit-remaining-tokens"),
                "the new minute holds only the 500 of the request admitted in it");
    }

    @Test
    void requestsHoldNothingWithAdmissionAfterAndNothingIsGivenBackAtTheirEnd() throws Exception {
        PluginContext context = context(CLIENTS, "- name: LimitUsage\n  admission: after");
        LimitUsage plugin = LimitUsage.create(context, now::get);

        for (int i = 0; i < 5; i++) {
            Exchange exchange = chat(context, ask(900));
            plugin.onClientIdentified(exchange);
            plugin.onRequestReady(exchange);
        }
        Exchange done = chat(context, ask(900));
        plugin.onClientIdentified(done);
        plugin.onUsage(done, usage(done, 1000));
        plugin.onRequestEnded(done);

        assertThrows(ProxyException.class, () -> plugin.onClientIdentified(chat(context, ask(1))));
    }

    @Test
    void anUnknownAdmissionOrABadDefaultIsReportedWithItsPath() throws Exception {
        ConfigException problems = assertThrows(ConfigException.class,
                () -> plugin(RESERVE + "\n  admission: before\n  default_completion_tokens: -1"));

        assertEquals(List.of("plugins[0].admission must be 'reserve' (hold a request's likely tokens before it goes"
                        + " upstream; exact) or 'after' (count them when its usage is known, as the Python original;"
                        + " requests admitted at once may overrun the budget), got 'before'",
                "plugins[0].default_completion_tokens must be a whole number of 0 or more (the completion tokens held"
                        + " for a request that sets no max_tokens), got -1"), problems.problems());
    }
}
