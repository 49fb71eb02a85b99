package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.ScriptedSseUpstream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Server-sent events pass through event by event, as they arrive, byte for byte (README "6. Bodies, timeouts,
 * streaming").
 */
class StreamingTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String STREAM_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

    private static List<String> chunks(int count) {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            events.add("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                    + "{\"content\":\"word" + i + " \"},\"finish_reason\":null}]}\r\n\r\n");
        }
        events.add("data: [DONE]\r\n\r\n");
        return events;
    }

    @Test
    void eventsReachTheClientWhileTheUpstreamIsStillStreaming() throws Exception {
        List<String> events = chunks(5);
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.startHeldAfterFirst(events);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()))) {

            HttpResponse<InputStream> response = proxy.sendForStream(streamRequest(proxy));
            assertEquals(200, response.statusCode());
            assertTrue(response.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
            StringBuilder received = new StringBuilder();
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                // The upstream sends the rest only once the first event has reached the client.
                String line = reader.readLine();
                assertEquals(events.get(0).lines().findFirst().orElseThrow(), line);
                upstream.release();
                received.append(line).append('\n');
                while ((line = reader.readLine()) != null) {
                    received.append(line).append('\n');
                }
            }

            assertFalse(upstream.wasNeverReleased(), "the first event must reach the client while the upstream waits");
            assertEquals(String.join("", events).replace("\r\n", "\n"), received.toString());
        }
    }

    @Test
    void theStreamIsPassedOnByteForByte() throws Exception {
        List<String> events = new ArrayList<>(chunks(3));
        events.add(0, ": keep-alive comment\n\n");
        events.add(1, "event: custom\nid: 7\ndata: {\"choices\":[],\"prompt_filter_results\":[]}\n\n");
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(5), Duration.ZERO);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()))) {

            HttpResponse<byte[]> response = proxy.sendForBytes(streamRequest(proxy));

            assertEquals(200, response.statusCode());
            assertEquals(String.join("", events), new String(response.body(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aClientThatGoesAwayCancelsTheUpstreamRequest() throws Exception {
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(chunks(400), Duration.ofMillis(25), Duration.ZERO);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()))) {

            HttpResponse<InputStream> response = proxy.sendForStream(streamRequest(proxy));
            InputStream body = response.body();
            byte[] firstBytes = body.readNBytes(100);
            assertEquals(100, firstBytes.length);
            body.close();

            assertTrue(upstream.awaitHungUp(Duration.ofSeconds(8)),
                    "the proxy must close the upstream connection once the client went away (400 events would take 10 s)");
        }
    }

    @Test
    void theReadTimeoutIsTheIdleTimeBetweenEventsNotTheWholeStream() throws Exception {
        String slowButSteady = """
                endpoints:
                  - name: Sweden
                    url: %s
                    key: k
                    connections:
                      timeouts:
                        read: 1.5
                """;
        // 26 events 100 ms apart take 2.6 s in all, more than the read timeout, but are never idle for 1.5 s.
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(chunks(25), Duration.ofMillis(100), Duration.ZERO);
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai(slowButSteady.formatted(upstream.baseUrl())))) {

            HttpResponse<byte[]> response = proxy.sendForBytes(streamRequest(proxy));

            assertEquals(String.join("", chunks(25)), new String(response.body(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aStreamThatFallsSilentLongerThanTheReadTimeoutIsCutOff() throws Exception {
        String config = """
                endpoints:
                  - name: Sweden
                    url: %s
                    key: k
                    connections:
                      timeouts:
                        read: 0.5
                """;
        // Silent for 1.5 s after the first event, then it would go on for 40 more events.
        List<String> events = chunks(40);
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(20),
                Duration.ofMillis(1500));
                ProxyHarness proxy = ProxyHarness.start(Configs.withAoai(config.formatted(upstream.baseUrl())))) {

            HttpResponse<InputStream> response = proxy.sendForStream(streamRequest(proxy));
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            // The proxy aborts the connection: a chunked body that ended normally would look complete to the client.
            assertThrows(IOException.class, () -> {
                try (InputStream body = response.body()) {
                    body.transferTo(received);
                }
            }, "the cut stream must not end as if it were complete");

            assertEquals(events.get(0), received.toString(StandardCharsets.UTF_8));
            assertTrue(upstream.awaitHungUp(Duration.ofSeconds(5)), "the silent upstream must be hung up on");
        }
    }

    private static HttpRequest streamRequest(ProxyHarness proxy) {
        return proxy.request(CHAT)
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST))
                .build();
    }
}
