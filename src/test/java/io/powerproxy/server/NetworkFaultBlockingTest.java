package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.ProxyHarness;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An endpoint whose port refuses connections, then accepts them, then refuses again, through the proxy with a fake
 * balancer clock: the first refusal blocks it for a second, the next in a row for two, and an answer in between
 * makes the next refusal count as the first again.
 */
class NetworkFaultBlockingTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    @Test
    void refusedConnectionsBlockForASecondThenTwoAndAnAnswerStartsTheCountAgain() throws Exception {
        FakeClock clock = new FakeClock();
        try (ClosedPort refusing = ClosedPort.hold();
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(refusing.url()), null, List.of(), clock)) {
            int port = refusing.port();
            assertEquals("1000", retryAfterMs(chat(proxy)), "the first refusal blocks for a second");
            clock.advance(Duration.ofMillis(1000));
            assertEquals("2000", retryAfterMs(chat(proxy)), "the second in a row for two");

            // The upstream takes the port over: no other socket could have it while it was held, and it is free only
            // between this close and the bind.
            refusing.close();
            HttpServer upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 16);
            upstream.createContext("/", exchange -> {
                try (exchange) {
                    byte[] body = "{\"choices\":[]}".getBytes(StandardCharsets.UTF_8);
                    exchange.getResponseHeaders().set("Content-Type", "application/json");
                    // Not kept for reuse: the refusal after the answer must come from a new connection.
                    exchange.getResponseHeaders().set("Connection", "close");
                    exchange.sendResponseHeaders(200, body.length);
                    exchange.getResponseBody().write(body);
                }
            });
            upstream.start();
            try {
                clock.advance(Duration.ofMillis(2000));
                assertEquals(200, chat(proxy).statusCode(), "once the block ends, the endpoint is tried again");
            } finally {
                upstream.stop(0);
            }

            assertEquals("1000", retryAfterMs(chat(proxy)), "after an answer, a refusal counts as the first again");
        }
    }

    private static HttpResponse<String> chat(ProxyHarness proxy) {
        return proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{\"messages\":[]}");
    }

    private static String retryAfterMs(HttpResponse<String> response) throws IOException {
        assertEquals(429, response.statusCode(), response.body());
        return response.headers().firstValue("retry-after-ms").orElseThrow();
    }
}
