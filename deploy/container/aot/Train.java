import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The training load for the container image's AOT cache: what clients send in production (chat, streamed chat,
 * embeddings, a wrong key, an unknown deployment) for a few seconds, so that the cache holds the classes and
 * profiles of the request path. Run with the source launcher: {@code java Train.java PORT SECONDS KEY}.
 */
public final class Train {

    private static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in three words.\"}],"
            + "\"max_tokens\":20}";
    private static final String STREAM = "{\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}],\"stream\":true}";

    public static void main(String[] args) throws Exception {
        String base = "http://127.0.0.1:" + args[0];
        long until = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();
        String key = args[2];
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        awaitLive(client, base);
        AtomicLong ok = new AtomicLong();
        AtomicLong other = new AtomicLong();
        try (var threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int t = 0; t < 16; t++) {
                int worker = t;
                threads.submit(() -> {
                    for (long i = worker; System.nanoTime() < until; i++) {
                        HttpRequest request = request(base, key, i);
                        try {
                            int status = client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
                            (status == 200 ? ok : other).incrementAndGet();
                        } catch (java.io.IOException e) {
                            other.incrementAndGet();
                        }
                    }
                    return null;
                });
            }
        }
        System.out.println("training load: " + ok.get() + " answered 200, " + other.get() + " other");
        if (ok.get() == 0) {
            System.exit(1);
        }
    }

    /** Mostly chat; every 4th streamed, every 16th an embedding, every 64th a wrong key or an unknown deployment. */
    private static HttpRequest request(String base, String key, long i) {
        String deployment = i % 128 == 64 ? "no-such-deployment" : "gpt-4o";
        String operation = i % 16 == 8 ? "embeddings" : "chat/completions";
        String body = i % 16 == 8 ? "{\"input\":\"hello\"}" : i % 4 == 1 ? STREAM : CHAT;
        return HttpRequest.newBuilder(URI.create(base + "/openai/deployments/" + deployment + "/" + operation
                        + "?api-version=2024-10-21"))
                .header("api-key", i % 128 == 0 ? "wrong-key" : key)
                .header("content-type", "application/json")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static void awaitLive(HttpClient client, String base) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        HttpRequest live = HttpRequest.newBuilder(URI.create(base + "/powerproxy/health/liveness")).build();
        while (System.nanoTime() < deadline) {
            try {
                if (client.send(live, HttpResponse.BodyHandlers.discarding()).statusCode() == 204) {
                    return;
                }
            } catch (java.io.IOException notYet) {
                // Still starting.
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("the proxy at " + base + " was not live within 60 s");
    }
}
