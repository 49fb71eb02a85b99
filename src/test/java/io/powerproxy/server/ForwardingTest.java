package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.absent;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.binaryEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.delete;
import static com.github.tomakehurst.wiremock.client.WireMock.deleteRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.equalToJson;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.WireMockUpstream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The proxy forwards every API and method to the endpoint unchanged, with the endpoint's key in place of the client's. */
class ForwardingTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String CHAT_ANSWER = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",
             "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hi!"}}],
             "usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}""";

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    private ProxyHarness proxy;

    @BeforeEach
    void start() {
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl() + "/"));
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    @Test
    void chatCompletionIsForwardedAndTheAnswerComesBackByteForByte() {
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .willReturn(okJson(CHAT_ANSWER).withHeader("x-ms-region", "Sweden Central")));
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":5}";

        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, body);

        assertEquals(200, response.statusCode());
        assertEquals(CHAT_ANSWER, response.body());
        assertEquals("Sweden Central", response.headers().firstValue("x-ms-region").orElseThrow());
        assertTrue(response.headers().firstValue("x-powerproxy-request-id").isPresent());
        azure.verify(postRequestedFor(urlEqualTo(CHAT))
                .withHeader("api-key", equalTo(Configs.ENDPOINT_KEY))
                .withHeader("Authorization", absent())
                .withRequestBody(equalTo(body)));
    }

    @Test
    void embeddingsAreForwarded() {
        String answer = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,-0.2]}],"
                + "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}";
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/emb/embeddings")).willReturn(okJson(answer)));

        HttpResponse<String> response = proxy.postJson("/openai/deployments/emb/embeddings?api-version=2024-10-21",
                Configs.TEAM_A_KEY, "{\"input\":\"hello\"}");

        assertEquals(200, response.statusCode());
        assertEquals(answer, response.body());
        azure.verify(postRequestedFor(urlEqualTo("/openai/deployments/emb/embeddings?api-version=2024-10-21"))
                .withRequestBody(equalToJson("{\"input\":\"hello\"}")));
    }

    @Test
    void theClientKeyNeverReachesTheUpstream() {
        azure.stubFor(any(anyUrl()).willReturn(okJson("{}")));

        proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");
        proxy.send(proxy.request(CHAT).header("Authorization", "Bearer " + Configs.TEAM_B_KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        List<LoggedRequest> requests = azure.findAll(postRequestedFor(anyUrl()));
        assertEquals(2, requests.size());
        for (LoggedRequest request : requests) {
            String everything = request.getHeaders().toString() + request.getUrl();
            assertFalse(everything.contains(Configs.TEAM_A_KEY), everything);
            assertFalse(everything.contains(Configs.TEAM_B_KEY), everything);
            assertEquals(Configs.ENDPOINT_KEY, request.getHeader("api-key"));
            assertFalse(request.containsHeader("Authorization"));
        }
    }

    @Test
    void multipartAudioUploadIsForwardedByteForByte() {
        byte[] audio = new byte[200_000];
        new Random(7).nextBytes(audio);
        String boundary = "----pp-boundary-42";
        byte[] body = multipart(boundary, audio);
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/whisper/audio/transcriptions"))
                .willReturn(okJson("{\"text\":\"hello world\"}")));

        HttpResponse<String> response = proxy.send(proxy.request("/openai/deployments/whisper/audio/transcriptions?api-version=2024-06-01")
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());

        assertEquals(200, response.statusCode());
        assertEquals("{\"text\":\"hello world\"}", response.body());
        azure.verify(postRequestedFor(urlPathEqualTo("/openai/deployments/whisper/audio/transcriptions"))
                .withHeader("Content-Type", equalTo("multipart/form-data; boundary=" + boundary))
                .withRequestBody(binaryEqualTo(body)));
    }

    @Test
    void binaryAnswerIsPassedBackByteForByte() {
        byte[] mp3 = new byte[300_000];
        new Random(11).nextBytes(mp3);
        azure.stubFor(post(urlPathEqualTo("/openai/deployments/tts/audio/speech"))
                .willReturn(aResponse().withStatus(200).withHeader("Content-Type", "audio/mpeg").withBody(mp3)));

        HttpResponse<byte[]> response = proxy.sendForBytes(proxy.request("/openai/deployments/tts/audio/speech?api-version=2024-06-01")
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\",\"voice\":\"alloy\"}")).build());

        assertEquals(200, response.statusCode());
        assertEquals("audio/mpeg", response.headers().firstValue("content-type").orElseThrow());
        assertArrayEquals(mp3, response.body());
    }

    @Test
    void getAndDeleteArePassedThroughWithTheirQueryStrings() {
        azure.stubFor(get(urlPathEqualTo("/openai/files")).willReturn(okJson("{\"data\":[],\"object\":\"list\"}")));
        azure.stubFor(delete(urlPathEqualTo("/openai/files/file-abc"))
                .willReturn(okJson("{\"id\":\"file-abc\",\"deleted\":true}")));

        HttpResponse<String> listed = proxy.send(proxy.request("/openai/files?api-version=2024-10-21&purpose=batch")
                .header("api-key", Configs.TEAM_A_KEY).GET().build());
        HttpResponse<String> deleted = proxy.send(proxy.request("/openai/files/file-abc?api-version=2024-10-21")
                .header("api-key", Configs.TEAM_A_KEY).DELETE().build());

        assertEquals(200, listed.statusCode());
        assertEquals("{\"data\":[],\"object\":\"list\"}", listed.body());
        assertEquals(200, deleted.statusCode());
        azure.verify(getRequestedFor(urlEqualTo("/openai/files?api-version=2024-10-21&purpose=batch")));
        azure.verify(deleteRequestedFor(urlEqualTo("/openai/files/file-abc?api-version=2024-10-21")));
    }

    @Test
    void everyMethodIsForwarded() {
        azure.stubFor(any(urlPathEqualTo("/openai/assistants/asst_1")).willReturn(okJson("{\"ok\":true}")));
        for (String method : List.of("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")) {
            HttpResponse<String> response = proxy.send(proxy.request("/openai/assistants/asst_1?api-version=2024-05-01-preview")
                    .header("api-key", Configs.TEAM_A_KEY)
                    .method(method, HttpRequest.BodyPublishers.ofString(method.equals("GET") ? "" : "{\"m\":1}")).build());
            assertEquals(200, response.statusCode(), method);
            assertEquals("{\"ok\":true}", response.body(), method);
        }
        HttpResponse<String> head = proxy.send(proxy.request("/openai/assistants/asst_1?api-version=2024-05-01-preview")
                .header("api-key", Configs.TEAM_A_KEY).HEAD().build());
        assertEquals(200, head.statusCode());
        assertEquals("", head.body());
        assertEquals(7, azure.findAll(com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor(
                urlPathEqualTo("/openai/assistants/asst_1"))).size());
    }

    @Test
    void upstreamErrorsArePassedThroughUnchanged() {
        String error = "{\"error\":{\"code\":\"content_filter\",\"message\":\"filtered\",\"param\":\"prompt\"}}";
        azure.stubFor(post(anyUrl()).willReturn(aResponse().withStatus(400)
                .withHeader("Content-Type", "application/json").withBody(error)));

        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

        assertEquals(400, response.statusCode());
        assertEquals(error, response.body());
    }

    @Test
    void hopByHopHeadersAreNotForwardedInEitherDirection() {
        azure.stubFor(post(anyUrl()).willReturn(okJson("{}")
                .withHeader("Keep-Alive", "timeout=5")
                .withHeader("Proxy-Authenticate", "Basic")
                .withHeader("Upgrade", "h2c")
                .withHeader("x-ms-region", "East US")));

        HttpResponse<String> response = proxy.send(proxy.request(CHAT)
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Trailer", "x-foo")
                .header("X-Custom", "kept")
                .header("Proxy-Authorization", "Basic c2VjcmV0")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("keep-alive").isEmpty());
        assertTrue(response.headers().firstValue("proxy-authenticate").isEmpty());
        assertTrue(response.headers().firstValue("upgrade").isEmpty());
        assertEquals("East US", response.headers().firstValue("x-ms-region").orElseThrow());
        azure.verify(postRequestedFor(anyUrl())
                .withHeader("X-Custom", equalTo("kept"))
                .withHeader("Trailer", absent())
                .withHeader("Proxy-Authorization", absent()));
    }

    @Test
    void acceptEncodingTeExpectAndTheHeadersNamedInConnectionAreNotForwarded() throws Exception {
        azure.stubFor(post(anyUrl()).willReturn(okJson("{}")));
        byte[] body = "{}".getBytes(StandardCharsets.US_ASCII);
        // A raw socket: Java's HTTP client refuses to send Connection and Expect itself.
        String request = "POST " + CHAT + " HTTP/1.1\r\nHost: localhost\r\napi-key: " + Configs.TEAM_A_KEY + "\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n"
                + "Accept-Encoding: gzip, br\r\nTE: trailers\r\nExpect: 100-continue\r\n"
                + "Connection: close, X-Hop-Only\r\nX-Hop-Only: for the proxy\r\nX-Custom: kept\r\n\r\n";

        String answer;
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().write(body);
            answer = RawHttp.readAnswer(socket.getInputStream());
            if (answer.startsWith("HTTP/1.1 100")) {
                answer = RawHttp.readAnswer(socket.getInputStream());
            }
        }

        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        azure.verify(postRequestedFor(anyUrl())
                .withHeader("X-Custom", equalTo("kept"))
                .withHeader("Accept-Encoding", absent())
                .withHeader("TE", absent())
                .withHeader("Expect", absent())
                .withHeader("X-Hop-Only", absent()));
    }

    @Test
    void headerFilterForwardsOnlyMatchingNames() {
        proxy.close();
        proxy = ProxyHarness.start(Configs.withAoai("""
                forward_http_header_only_if_name_matches: (?!x-)
                endpoints:
                  - name: Sweden
                    url: %s
                    key: %s
                """.formatted(azure.baseUrl(), Configs.ENDPOINT_KEY)));
        azure.stubFor(post(anyUrl()).willReturn(okJson("{}")));

        proxy.send(proxy.request(CHAT)
                .header("api-key", Configs.TEAM_A_KEY)
                .header("X-Forwarded-For", "10.0.0.1")
                .header("X-Ms-Client-Request-Id", "abc")
                .header("Content-Type", "application/json")
                .header("User-Agent", "AzureOpenAI/Python 1.50.0")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build());

        azure.verify(postRequestedFor(anyUrl())
                .withHeader("X-Forwarded-For", absent())
                .withHeader("X-Ms-Client-Request-Id", absent())
                .withHeader("Content-Type", equalTo("application/json"))
                .withHeader("User-Agent", containing("AzureOpenAI/Python"))
                .withHeader("api-key", equalTo(Configs.ENDPOINT_KEY)));
    }

    @Test
    void endpointUrlPathPrefixIsKept() {
        proxy.close();
        proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl() + "/gateway/aoai/"));
        azure.stubFor(post(anyUrl()).willReturn(okJson("{}")));

        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

        assertEquals(200, response.statusCode());
        azure.verify(postRequestedFor(urlEqualTo("/gateway/aoai" + CHAT)));
    }

    private static byte[] multipart(String boundary, byte[] audio) {
        String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                + "Content-Type: audio/wav\r\n\r\n";
        String tail = "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--"
                + boundary + "--\r\n";
        byte[] h = head.getBytes(StandardCharsets.UTF_8);
        byte[] t = tail.getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[h.length + audio.length + t.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(audio, 0, all, h.length, audio.length);
        System.arraycopy(t, 0, all, h.length + audio.length, t.length);
        return all;
    }
}
