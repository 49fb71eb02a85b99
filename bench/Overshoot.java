import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How far LimitUsage lets concurrent requests overrun a budget, for the benchmark (bench/overshoot.sh): sends
 * {@code --requests} chat requests at once, spread over the given proxy ports, and adds up the {@code total_tokens} of
 * the answers that were let through.
 *
 * <pre>java bench/Overshoot.java --ports 9001[,9002] --key KEY --budget 2000 [--requests 200] [--max-tokens 92]</pre>
 *
 * <p>Prints one line: {@code admitted=N refused=N failed=N tokens=N budget=N overshoot=N} (tokens of admitted requests
 * minus the budget; 0 or less means the budget held). A budget is per calendar minute, so when fewer than 10 s of the
 * current minute are left it first waits for the next one: all requests then fall into one minute.
 */
public final class Overshoot {

    private static final Pattern TOTAL = Pattern.compile("\"total_tokens\"\\s*:\\s*(\\d+)");

    public static void main(String[] args) throws Exception {
        List<Integer> ports = new ArrayList<>();
        String key = null;
        long budget = -1;
        int requests = 200;
        long maxTokens = 92;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--ports" -> {
                    for (String port : args[i + 1].split(",")) {
                        ports.add(Integer.parseInt(port));
                    }
                }
                case "--key" -> key = args[i + 1];
                case "--budget" -> budget = Long.parseLong(args[i + 1]);
                case "--requests" -> requests = Integer.parseInt(args[i + 1]);
                case "--max-tokens" -> maxTokens = Long.parseLong(args[i + 1]);
                default -> usage("unknown option " + args[i]);
            }
        }
        if (ports.isEmpty() || key == null || budget < 0 || args.length % 2 != 0) {
            usage("--ports, --key and --budget are required");
        }
        long intoMinute = System.currentTimeMillis() % 60_000;
        if (intoMinute > 50_000) {
            Thread.sleep(60_000 - intoMinute + 200);
        }
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":" + maxTokens + "}";
        int admitted = 0;
        int refused = 0;
        int failed = 0;
        long tokens = 0;
        try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(30)).build();
                ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<HttpResponse<String>>> responses = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ports.get(i % ports.size())
                                + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"))
                        .timeout(Duration.ofSeconds(60)).header("api-key", key)
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                        .build();
                responses.add(threads.submit(() -> client.send(request, HttpResponse.BodyHandlers.ofString())));
            }
            for (Future<HttpResponse<String>> future : responses) {
                try {
                    HttpResponse<String> response = future.get();
                    Matcher total = TOTAL.matcher(response.body());
                    if (response.statusCode() == 200 && total.find()) {
                        admitted++;
                        tokens += Long.parseLong(total.group(1));
                    } else if (response.statusCode() == 429) {
                        refused++;
                    } else {
                        failed++;
                    }
                } catch (Exception e) {
                    failed++;
                }
            }
        }
        System.out.println("admitted=" + admitted + " refused=" + refused + " failed=" + failed + " tokens=" + tokens
                + " budget=" + budget + " overshoot=" + (tokens - budget));
    }

    private static void usage(String problem) {
        System.err.println("Overshoot: " + problem + "\nusage: java bench/Overshoot.java --ports 9001[,9002] --key KEY"
                + " --budget TOKENS [--requests 200] [--max-tokens 92]");
        System.exit(2);
    }
}
