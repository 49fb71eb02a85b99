package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.LargeJsonUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.nio.ByteBuffer;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * JSON answers larger than what the proxy holds pass through as they arrive, byte for byte, and still get a usage
 * record with the counts they report; small ones are held whole, and plugins see their body.
 */
class LargeAnswerTest {

    private static final String EMBEDDINGS = "/openai/deployments/emb/embeddings?api-version=2024-10-21";

    private final RecordingPlugin usage = new RecordingPlugin();
    private final BodySeen bodies = new BodySeen();

    @AfterEach
    void clearProperty() {
        System.clearProperty(BodyMemory.PROPERTY);
    }

    @ParameterizedTest(name = "with Content-Length: {0}")
    @ValueSource(booleans = {true, false})
    void aJsonAnswerLargerThanWhatIsHeldPassesThroughByteExactAndItsUsageAtTheEndIsRecorded(boolean declareLength)
            throws Exception {
        long size = 20_000_000;
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(size, declareLength);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null,
                        List.of(usage, bodies))) {

            Received received = fetch(proxy);

            assertEquals(200, received.status());
            assertEquals(LargeJsonUpstream.length(size), received.length());
            assertEquals(LargeJsonUpstream.sha256(size), received.sha256());
            UsageRecord record = usage.await(1).getFirst();
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, record.promptTokens());
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, record.totalTokens());
            assertEquals(0, record.completionTokens());
            assertEquals(UsageRecord.UsageSource.REPORTED, record.usageSource());
            assertEquals(LargeJsonUpstream.MODEL, record.model());
            assertEquals(200, record.statusCode());
            assertEquals(List.of(), bodies.sizes(), "plugins do not get the body of an answer that was not held");
        }
    }

    @Test
    void aSmallJsonAnswerIsHeldWholeAndPluginsSeeItsBody() throws Exception {
        long size = 10_000;
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(size, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null,
                        List.of(usage, bodies))) {

            Received received = fetch(proxy);

            assertEquals(LargeJsonUpstream.sha256(size), received.sha256());
            assertEquals(List.of(received.length()), bodies.sizes());
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, usage.await(1).getFirst().promptTokens());
        }
    }

    @Test
    void aJsonAnswerThatWouldFitButFindsNoRoomInTheMemoryForBodiesPassesThroughInsteadOfBeingRefused()
            throws Exception {
        // 2 MB is below the size held whole, but above the 1 MiB that bodies may take here.
        System.setProperty(BodyMemory.PROPERTY, "1");
        long size = 2_000_000;
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(size, true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null,
                        List.of(usage, bodies))) {

            Received received = fetch(proxy);

            assertEquals(200, received.status());
            assertEquals(LargeJsonUpstream.sha256(size), received.sha256());
            assertEquals(List.of(), bodies.sizes(), "passed through, not held");
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, usage.await(1).getFirst().promptTokens());
            // The request's body is given back just after the answer, not before the client has it.
            Await.until("the request body's memory is given back", proxy::requestBodyBytesHeld,
                    () -> proxy.requestBodyBytesHeld() == 0);
        }
    }

    @Test
    void aJsonAnswerOfUnknownLengthThatOutgrowsWhatIsHeldIsPassedOnFromItsFirstByte() throws Exception {
        // Chunked, so the proxy starts holding it and lets go at 4 MiB.
        long size = AnswerRelay.MAX_BUFFERED_ANSWER_BYTES + 100_000;
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(size, false);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null,
                        List.of(usage, bodies))) {

            Received received = fetch(proxy);

            assertEquals(LargeJsonUpstream.sha256(size), received.sha256());
            assertEquals(List.of(), bodies.sizes());
            assertEquals(LargeJsonUpstream.PROMPT_TOKENS, usage.await(1).getFirst().promptTokens());
        }
    }

    private static Received fetch(ProxyHarness proxy) throws Exception {
        HttpRequest request = proxy.request(EMBEDDINGS).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"input\":[\"a\",\"b\"]}")).build();
        HttpResponse<InputStream> response = proxy.sendForStream(request);
        MessageDigest digest = LargeJsonUpstream.newDigest();
        long length;
        try (InputStream body = new DigestInputStream(response.body(), digest)) {
            length = body.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return new Received(response.statusCode(), length, HexFormat.of().formatHex(digest.digest()));
    }

    private record Received(int status, long length, String sha256) {
    }

    /** Notes the size of every response body plugins are shown. */
    private static final class BodySeen implements Plugin {
        private final List<Long> sizes = new CopyOnWriteArrayList<>();

        @Override
        public void onResponseBody(Exchange exchange, ByteBuffer body) {
            sizes.add((long) body.remaining());
        }

        List<Long> sizes() {
            return List.copyOf(sizes);
        }
    }
}
