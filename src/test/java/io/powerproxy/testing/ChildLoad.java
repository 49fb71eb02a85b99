package io.powerproxy.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chat requests from many client threads to a proxy in a child JVM until it is gone, for tests that stop or kill it
 * under load and then account for every answered request. Each thread stops after {@link #MAX_PER_CLIENT} requests,
 * and all after {@link #MAX_TIME}: bounds for a broken test only.
 */
public final class ChildLoad implements AutoCloseable {

    static final int MAX_PER_CLIENT = 500;
    static final Duration MAX_TIME = Duration.ofSeconds(60);
    private static final String REQUEST_ID = "x-powerproxy-request-id";

    private final ChildProxy proxy;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final Set<String> answered = ConcurrentHashMap.newKeySet();
    private final AtomicInteger failed = new AtomicInteger();

    private ChildLoad(ChildProxy proxy) {
        this.proxy = proxy;
    }

    /** Starts {@code clients} threads that each send {@code body} to {@code chat} with the key, one after another. */
    public static ChildLoad start(ChildProxy proxy, URI chat, String key, String body, int clients) {
        ChildLoad load = new ChildLoad(proxy);
        HttpRequest request = HttpRequest.newBuilder(chat)
                .timeout(Duration.ofSeconds(30))
                .header("api-key", key)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        long ends = System.nanoTime() + MAX_TIME.toNanos();
        for (int i = 0; i < clients; i++) {
            load.threads.submit(() -> {
                load.send(request, ends);
                return null;
            });
        }
        return load;
    }

    private void send(HttpRequest request, long ends) throws InterruptedException {
        for (int sent = 0; sent < MAX_PER_CLIENT && System.nanoTime() < ends && proxy.isAlive(); sent++) {
            try {
                // ofString completes only once the whole body arrived: an answer cut by the stop is an IOException.
                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 200) {
                    answered.add(response.headers().firstValue(REQUEST_ID).orElseThrow());
                }
            } catch (IOException refusedOrCut) {
                failed.incrementAndGet();
            }
        }
    }

    /** Waits until {@code count} requests were answered, so that a stop lands in the middle of the load. */
    public void awaitAnswered(int count) {
        Await.until(count + " answers under load", MAX_TIME, proxy::tail, () -> answered.size() >= count);
    }

    /** The request ids of the answers received whole with status 200. */
    public Set<String> answered() {
        return Set.copyOf(answered);
    }

    /** How many requests were refused or cut. */
    public int failed() {
        return failed.get();
    }

    /** Waits until every client thread has ended (they end once the proxy is gone). */
    @Override
    public void close() {
        threads.close();
        client.close();
    }
}
