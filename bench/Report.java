import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns the raw measurements of bench/run.sh into the markdown report and the chart's data files.
 *
 * <pre>java bench/Report.java RAW.tsv META.env OUT.md CHART_DATA_DIR CHART_FILE_NAME</pre>
 *
 * <p>RAW.tsv has one line per run: scenario, target, repeat, and {@code key=value} pairs separated by spaces. Every
 * number in the report is the median of the repeats, and the ratio columns compare it with the direct run (the mock
 * upstream alone) of the same invocation.
 */
public final class Report {

    private final Map<String, String> meta = new LinkedHashMap<>();
    /** scenario -> target -> key -> values, one per repeat. */
    private final Map<String, Map<String, Map<String, List<Double>>>> runs = new LinkedHashMap<>();
    private final StringBuilder md = new StringBuilder();

    public static void main(String[] args) throws IOException {
        if (args.length != 5) {
            System.err.println("usage: java bench/Report.java RAW.tsv META.env OUT.md CHART_DATA_DIR CHART_FILE_NAME");
            System.exit(2);
        }
        Report report = new Report();
        report.read(Path.of(args[0]), Path.of(args[1]));
        Path chartDir = Path.of(args[3]);
        Files.createDirectories(chartDir);
        report.write(chartDir, args[4]);
        Files.writeString(Path.of(args[2]), report.md, StandardCharsets.UTF_8);
    }

    private void read(Path raw, Path metaFile) throws IOException {
        for (String line : Files.readAllLines(metaFile, StandardCharsets.UTF_8)) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                meta.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        for (String line : Files.readAllLines(raw, StandardCharsets.UTF_8)) {
            String[] f = line.split("\t", 4);
            if (f.length < 4) {
                continue;
            }
            Map<String, List<Double>> values = runs.computeIfAbsent(f[0], k -> new LinkedHashMap<>())
                    .computeIfAbsent(f[1], k -> new LinkedHashMap<>());
            for (String kv : f[3].trim().split("\\s+")) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    continue;
                }
                try {
                    values.computeIfAbsent(kv.substring(0, eq), k -> new ArrayList<>())
                            .add(Double.parseDouble(kv.substring(eq + 1)));
                } catch (NumberFormatException e) {
                    // not a number (e.g. NaN written as text by a failed run): left out
                }
            }
        }
    }

    // ---- numbers ----------------------------------------------------------------------------------------------------

    private static double median(List<Double> values) {
        if (values == null || values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(values);
        sorted.sort(null);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static double sum(List<Double> values) {
        return values == null ? 0 : values.stream().mapToDouble(Double::doubleValue).sum();
    }

    private double med(String scenario, String target, String key) {
        Map<String, List<Double>> t = runs.getOrDefault(scenario, Map.of()).get(target);
        return t == null ? Double.NaN : median(t.get(key));
    }

    private double total(String scenario, String target, String key) {
        Map<String, List<Double>> t = runs.getOrDefault(scenario, Map.of()).get(target);
        return t == null ? Double.NaN : sum(t.get(key));
    }

    /** The median over the runs of one value divided by another, e.g. CPU seconds per request of each run. */
    private double medianOfRatios(String scenario, String target, String numerator, String denominator) {
        Map<String, List<Double>> t = runs.getOrDefault(scenario, Map.of()).get(target);
        if (t == null || t.get(numerator) == null || t.get(denominator) == null) {
            return Double.NaN;
        }
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < Math.min(t.get(numerator).size(), t.get(denominator).size()); i++) {
            if (t.get(denominator).get(i) > 0) {
                ratios.add(t.get(numerator).get(i) / t.get(denominator).get(i));
            }
        }
        return median(ratios);
    }

    private int repeats(String scenario, String target) {
        Map<String, List<Double>> t = runs.getOrDefault(scenario, Map.of()).get(target);
        if (t == null || t.isEmpty()) {
            return 0;
        }
        return t.values().stream().mapToInt(List::size).max().orElse(0);
    }

    private List<String> targets(String scenario) {
        List<String> all = new ArrayList<>();
        for (String t : List.of("direct", "nginx", "floor", "proxy", "proxy-defaults", "nginx-tls", "floor-tls", "proxy-tls",
                "proxy-defaults-tls", "proxy-tls-h1", "proxy-h2")) {
            if (runs.getOrDefault(scenario, Map.of()).containsKey(t)) {
                all.add(t);
            }
        }
        return all;
    }

    private static String f(double v, int decimals) {
        if (Double.isNaN(v)) {
            return "–";
        }
        return String.format(Locale.ROOT, "%,." + decimals + "f", v);
    }

    /** Latency in ms with sensible precision. */
    private static String ms(double v) {
        if (Double.isNaN(v)) {
            return "–";
        }
        return v < 10 ? f(v, 2) : v < 100 ? f(v, 1) : f(v, 0);
    }

    private static String ratio(double v, double base) {
        if (Double.isNaN(v) || Double.isNaN(base) || base == 0) {
            return "–";
        }
        double r = v / base;
        return (r < 10 ? f(r, 2) : f(r, 1)) + "×";
    }

    private static String added(double v, double base) {
        if (Double.isNaN(v) || Double.isNaN(base)) {
            return "–";
        }
        double d = v - base;
        return (d >= 0 ? "+" : "−") + ms(Math.abs(d));
    }

    private static String label(String target) {
        return switch (target) {
            case "direct" -> "direct (mock alone)";
            case "nginx" -> "nginx proxy_pass";
            case "proxy" -> "**PowerProxy**";
            case "floor" -> "floor (bare JDK relay)";
            case "proxy-defaults" -> "PowerProxy, original's default `connections`";
            case "nginx-tls" -> "nginx, TLS upstream";
            case "floor-tls" -> "floor, TLS upstream";
            case "proxy-tls" -> "**PowerProxy, TLS upstream**";
            case "proxy-defaults-tls" -> "PowerProxy, TLS upstream, default `connections`";
            case "proxy-tls-h1" -> "PowerProxy, TLS to the HTTP/2 mock, HTTP/1.1 (default)";
            case "proxy-h2" -> "PowerProxy, TLS to the HTTP/2 mock, `http2: true`";
            default -> target;
        };
    }

    private String m(String key) {
        return meta.getOrDefault(key, "");
    }

    private double mNum(String key) {
        try {
            return Double.parseDouble(m(key));
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    // ---- the report -------------------------------------------------------------------------------------------------

    private void write(Path chartDir, String chartFile) throws IOException {
        String title = "PowerProxy benchmark, " + m("date") + " (" + m("cores") + " cores, JDK " + m("jdk") + ")";
        Files.writeString(chartDir.resolve("title.txt"), title.replace("'", "") + "\n");
        line("# " + title + ("smoke".equals(m("mode")) ? " — SMOKE RUN (tiny durations, not a measurement)" : ""));
        line("");
        line("- **Machine:** " + m("cores") + " cores (" + m("cpu") + "), " + m("mem") + " RAM, " + m("os") + ", kernel "
                + m("kernel") + ". Shared and noisy: every process here (load client, mock, nginx, proxy) and other"
                + " work compete for the same cores, so absolute numbers are indicative; each cell is the **median of "
                + m("repeats") + " runs**, the targets interleaved, and the ratios compare with the direct run of the"
                + " same invocation.");
        line("- **Proxy:** `java " + m("proxy_flags") + " -jar target/powerproxy.jar` (jar " + f(mNum("jar_bytes") / 1e6, 1)
                + " MB), JDK " + m("jdk") + "; 3 clients; plugins " + m("plugins") + "; 2 endpoints (both the mock) with"
                + " virtual deployments; access log to a file.");
        line("- **Upstream:** `bench/MockAzure.java` (JDK HttpServer, virtual threads): 733-byte chat.completion with"
                + " usage; SSE streams of " + m("expect_events") + " events (" + m("chunks") + " content chunks "
                + m("event_interval_ms") + " ms apart).");
        if (!m("nginx").isEmpty()) {
            line("- **nginx " + m("nginx") + ":** `worker_processes " + m("nginx_workers") + "`, `proxy_pass` with"
                    + " upstream `keepalive 256`, HTTP/1.1, `proxy_buffering off`, no access log.");
        } else {
            line("- **nginx:** not installed, no baseline.");
        }
        line("- **Load:** " + m("load_tool") + " (non-streaming max rate), `bench/LoadClient.java` (fixed rate),"
                + " `bench/StreamClient.java` (SSE); all on the same machine.");
        line("");

        nonStreaming();
        fixedRate();
        scrapeCost();
        variants();
        overshoot();
        streaming();
        startup();
        line("![latency chart](" + chartFile + ")");
        chartData(chartDir);
    }

    private void nonStreaming() {
        String s = "ns";
        if (!runs.containsKey(s)) {
            return;
        }
        line("## Non-streaming chat at fixed concurrency (" + m("load_tool") + ", " + m("ns_seconds") + " s × "
                + m("repeats") + ")");
        line("");
        line("| target | req/s | p50 ms | p90 ms | p99 ms | req/s vs direct | p99 vs direct | CPU µs per request |"
                + " req/s vs floor | CPU vs floor | p99 vs floor | new upstream connections per 1,000 requests: whole run /"
                + " steady | errors |");
        line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (String t : targets(s)) {
            double requests = total(s, t, "requests");
            boolean proxy = t.startsWith("proxy");
            String floor = floorOf(t);
            line("| " + label(t) + " | " + f(med(s, t, "rps"), 0) + " | " + ms(med(s, t, "p50_ms")) + " | "
                    + ms(med(s, t, "p90_ms")) + " | " + ms(med(s, t, "p99_ms")) + " | "
                    + ratio(med(s, t, "rps"), med(s, "direct", "rps")) + " | "
                    + ratio(med(s, t, "p99_ms"), med(s, "direct", "p99_ms")) + " | "
                    + f(cpuPerRequest(s, t), 0) + " | "
                    + (proxy ? ratio(med(s, t, "rps"), med(s, floor, "rps")) : "") + " | "
                    + (proxy ? ratio(cpuPerRequest(s, t), cpuPerRequest(s, floor)) : "") + " | "
                    + (proxy ? ratio(med(s, t, "p99_ms"), med(s, floor, "p99_ms")) : "") + " | "
                    + (requests > 0 && !t.equals("direct") ? f(total(s, t, "upstream_conns") * 1000 / requests, 1)
                            + " / " + f(total(s, t, "upstream_conns_steady") * 1000
                                    / (requests * med(s, t, "steady_share")), 1) : "")
                    + " | " + f(total(s, t, "errors") + total(s, t, "non2xx"), 0) + " |");
        }
        line("");
        line("CPU per request: CPU time of the process in the middle (the proxy, the floor; nginx's workers) over all"
                + " repeats, divided by the requests; for the direct row, the mock's own CPU per request. Floor:"
                + " `bench/Floor.java`, a relay of the proxy's JDK classes (HttpServer on virtual threads, one"
                + " HttpClient, the body copied, nothing else) with the proxy's JVM flags; each proxy row compares with"
                + " the floor over the same upstream transport. TLS rows: the proxy, the floor and nginx reach the mock"
                + " over HTTPS (a certificate made at bench time; the JVMs trust it with a trust store), the client"
                + " still reaches them over plain HTTP. New upstream connections: sockets the mock accepted during the"
                + " runs (client ports not seen before), per 1,000 requests, over the whole runs and after each run's"
                + " first second (steady: every run starts with cold connections, as those of the run before were idle longer than `keepalive_expiry` or the mock's 30 s);"
                + " \"default `connections`\" rows run the"
                + " config without a `connections` section (the original's `max_connections: 100`,"
                + " `max_keepalive_connections: 20`, `keepalive_expiry: 5`), the others with the bench's tuned one.");
        line("");
        noise(s);
    }

    /** A line on how busy the rest of the machine was during a scenario's runs (other people's work). */
    private void noise(String s) {
        noise(s, "these runs");
    }

    private void noise(String s, String what) {
        List<Double> load = new ArrayList<>();
        for (Map<String, List<Double>> t : runs.getOrDefault(s, Map.of()).values()) {
            List<Double> other = t.get("cpu_other_s");
            List<Double> wall = t.get("wall_s");
            if (other == null || wall == null) {
                continue;
            }
            for (int i = 0; i < Math.min(other.size(), wall.size()); i++) {
                if (wall.get(i) > 0) {
                    load.add(other.get(i) / wall.get(i));
                }
            }
        }
        if (!load.isEmpty()) {
            line("Other work on the machine during " + what + " (not the load client, mock, nginx or proxy): median "
                    + f(median(load), 2) + " cores (" + f(load.stream().mapToDouble(Double::doubleValue).min().orElse(0), 2)
                    + "–" + f(load.stream().mapToDouble(Double::doubleValue).max().orElse(0), 2) + ") of " + m("cores") + ".");
            line("");
        }
    }

    /** CPU seconds (sum over repeats) of the process that a target adds: the mock for direct. */
    private double cpuOf(String s, String t) {
        if (t.equals("direct")) {
            return total(s, t, "cpu_mock_s");
        }
        return t.startsWith("nginx") ? total(s, t, "cpu_nginx_s") : total(s, t, "cpu_proxy_s");
    }

    /** CPU µs per request of a target over all its repeats. */
    private double cpuPerRequest(String s, String t) {
        double requests = total(s, t, "requests");
        return requests > 0 ? cpuOf(s, t) * 1e6 / requests : Double.NaN;
    }

    /** The floor a proxy row compares with: the one over the same upstream transport. */
    private static String floorOf(String t) {
        return t.endsWith("-tls") ? "floor-tls" : "floor";
    }

    private void fixedRate() {
        String s = "fixed";
        if (!runs.containsKey(s)) {
            return;
        }
        line("## Added latency at a fixed " + f(mNum("fixed_rate"), 0) + " req/s (half the proxy's max; LoadClient, "
                + m("fixed_connections") + " connections, " + m("fixed_seconds") + " s × " + m("repeats") + ")");
        line("");
        line("Open loop: each request's latency counts from when it was due, so queueing is charged (no coordinated"
                + " omission).");
        line("");
        line("| target | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | added p50 | added p90 | added p99 |"
                + " p50 vs direct | p99 vs direct | CPU µs per request | added p99 vs floor | CPU vs floor |");
        line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (String t : targets(s)) {
            double requests = total(s, t, "requests");
            line("| " + label(t) + " | " + f(med(s, t, "rps"), 0) + " | " + ms(med(s, t, "p50_ms")) + " | "
                    + ms(med(s, t, "p90_ms")) + " | " + ms(med(s, t, "p99_ms")) + " | " + ms(med(s, t, "p999_ms")) + " | "
                    + (t.equals("direct") ? "" : added(med(s, t, "p50_ms"), med(s, "direct", "p50_ms"))) + " | "
                    + (t.equals("direct") ? "" : added(med(s, t, "p90_ms"), med(s, "direct", "p90_ms"))) + " | "
                    + (t.equals("direct") ? "" : added(med(s, t, "p99_ms"), med(s, "direct", "p99_ms"))) + " | "
                    + ratio(med(s, t, "p50_ms"), med(s, "direct", "p50_ms")) + " | "
                    + ratio(med(s, t, "p99_ms"), med(s, "direct", "p99_ms")) + " | "
                    + (requests > 0 ? f(cpuOf(s, t) * 1e6 / requests, 0) : "–") + " | "
                    + (t.startsWith("proxy") ? added(med(s, t, "p99_ms"), med(s, "floor", "p99_ms")) : "") + " | "
                    + (t.startsWith("proxy") ? ratio(cpuPerRequest(s, t), cpuPerRequest(s, "floor")) : "") + " |");
        }
        line("");
        noise(s);
    }

    private void scrapeCost() {
        String s = "scrape";
        if (!runs.containsKey(s)) {
            return;
        }
        line("## What scraping the metrics costs: the proxy at max rate without and with a scraper polling"
                + " `/powerproxy/metrics` every second (" + m("scrape_seconds") + " s × " + m("scrape_repeats")
                + ", interleaved; medians)");
        line("");
        line("| run | req/s | CPU µs per request | scrapes | errors |");
        line("| --- | ---: | ---: | ---: | ---: |");
        for (String t : runs.get(s).keySet()) {
            line("| " + t + " | " + f(med(s, t, "rps"), 0) + " | "
                    + f(medianOfRatios(s, t, "cpu_proxy_s", "requests") * 1e6, 1) + " | " + f(total(s, t, "scrapes"), 0)
                    + " | " + f(total(s, t, "errors") + total(s, t, "non2xx"), 0) + " |");
        }
        line("");
        noise(s, "these runs");
    }

    private void variants() {
        String s = "variants";
        if (!runs.containsKey(s)) {
            return;
        }
        line("## What the plugins cost: proxy variants at the same fixed " + f(mNum("variant_rate"), 0) + " req/s ("
                + m("variant_seconds") + " s × " + m("variant_repeats") + ", interleaved, after " + "a shorter warm-up"
                + " than the main proxy's; medians of the runs)");
        line("");
        line("| variant | plugins | p50 ms | p90 ms | p99 ms | added p99 vs no plugins | CPU µs per request |"
                + " CPU vs no plugins | errors |");
        line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        double bareCpu = Double.NaN;
        for (String t : runs.get(s).keySet()) {
            // Per run, then the median: a variant's first run may still pay for the JIT's compiling.
            double cpu = medianOfRatios(s, t, "cpu_proxy_s", "requests") * 1e6;
            if (t.equals("proxy-bare")) {
                bareCpu = cpu;
            }
            line("| " + variantLabel(t) + " | " + m("variant_plugins_" + t) + " | " + ms(med(s, t, "p50_ms")) + " | "
                    + ms(med(s, t, "p90_ms")) + " | " + ms(med(s, t, "p99_ms")) + " | "
                    + (t.equals("proxy-bare") ? "" : added(med(s, t, "p99_ms"), med(s, "proxy-bare", "p99_ms"))) + " | "
                    + f(cpu, 0) + " | " + (t.equals("proxy-bare") ? "" : ratio(cpu, bareCpu)) + " | "
                    + f(total(s, t, "errors") + total(s, t, "non2xx"), 0) + " |");
        }
        line("");
        if (!m("la_rows").isEmpty()) {
            double rows = mNum("la_rows");
            double uploads = mNum("la_uploads");
            line("Log Analytics variant: " + f(rows, 0) + " rows arrived at the mock Logs Ingestion API for "
                    + f(mNum("la_requests"), 0) + " requests, in " + f(uploads, 0) + " uploads ("
                    + (uploads > 0 ? f(rows / uploads, 0) : "–") + " rows each on average; a batch is sent at 500 rows or"
                    + " 2 s after its first row).");
            line("");
        }
        noise(s, "these runs");
    }

    /** LimitUsage's overshoot (bench/overshoot.sh): tokens let through by 200 requests at once against a budget. */
    private void overshoot() {
        Map<String, Map<String, List<Double>>> o = runs.get("overshoot");
        if (o == null) {
            return;
        }
        line("## LimitUsage: overshoot with 200 requests at once against a small budget");
        line("");
        line("Each request may use 100 tokens (\"Hi\" and `max_tokens: 92`) and uses exactly that (the mock answers after"
                + " 500 ms); the budget is 2,000 tokens per minute. Overshoot: tokens of the requests let through minus"
                + " the budget.");
        line("");
        line("| admission | budgets | replicas | let through | refused (429) | tokens used | overshoot |");
        line("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for (String t : o.keySet()) {
            String[] parts = t.split("-");
            line("| " + parts[0] + " | " + (parts[1].equals("redis") ? "Redis" : "in the proxy") + " | "
                    + f(med("overshoot", t, "replicas"), 0) + " | " + f(med("overshoot", t, "admitted"), 0) + " | "
                    + f(med("overshoot", t, "refused"), 0) + " | " + f(med("overshoot", t, "tokens"), 0) + " | **"
                    + f(med("overshoot", t, "overshoot"), 0) + "** |");
        }
        line("");
    }

    private static String variantLabel(String target) {
        return switch (target) {
            case "proxy-bare" -> "no plugins";
            case "proxy" -> "**as above**";
            case "proxy-redis" -> "Redis budgets";
            case "proxy-la" -> "+ Log Analytics";
            default -> target;
        };
    }

    private void streaming() {
        List<String> scenarios = runs.keySet().stream().filter(k -> k.startsWith("stream-")).toList();
        if (scenarios.isEmpty()) {
            return;
        }
        line("## Streaming: concurrent SSE streams (" + m("expect_events") + " events each, of which " + m("chunks")
                + " content events a gap apart; each stream restarts when it ends; " + m("stream_seconds") + " s × "
                + m("stream_repeats") + ")");
        line("");
        line("| streams | gap ms | target | streams/s | vs direct | first event p50 ms | p99 ms | p50 vs direct |"
                + " stream p50 ms | stream p99 ms | events lost | errors | closed idle | CPU ms per stream |"
                + " proxy peak RSS MB | proxy heap used MB |");
        line("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (String s : scenarios) {
            String[] level = s.substring("stream-".length()).split("-");
            String n = level[0];
            String gap = level.length > 1 ? level[1] : m("event_interval_ms");
            for (String t : targets(s)) {
                boolean proxy = t.startsWith("proxy");
                double completed = total(s, t, "completed");
                line("| " + f(Double.parseDouble(n), 0) + " | " + gap + " | " + label(t) + " | "
                        + f(med(s, t, "streams_per_s"), 0) + " | "
                        + ratio(med(s, t, "streams_per_s"), med(s, "direct", "streams_per_s")) + " | "
                        + ms(med(s, t, "ttfb_p50_ms")) + " | " + ms(med(s, t, "ttfb_p99_ms")) + " | "
                        + ratio(med(s, t, "ttfb_p50_ms"), med(s, "direct", "ttfb_p50_ms")) + " | "
                        + ms(med(s, t, "duration_p50_ms")) + " | " + ms(med(s, t, "duration_p99_ms")) + " | "
                        + f(total(s, t, "events_lost") + total(s, t, "events_extra"), 0) + " of "
                        + f(total(s, t, "events"), 0) + " | "
                        + f(total(s, t, "errors") + total(s, t, "non2xx") + total(s, t, "unfinished"), 0) + " | "
                        + f(total(s, t, "reconnects"), 0) + " | "
                        + (completed > 0 ? f(cpuOf(s, t) * 1e3 / completed, 2) : "–") + " | "
                        + (proxy ? f(med(s, t, "rss_peak_kb") / 1024, 0) : "") + " | "
                        + (proxy ? f(med(s, t, "heap_used_kb") / 1024, 0) + " of " + f(med(s, t, "heap_committed_kb") / 1024, 0) : "")
                        + " |");
            }
        }
        line("");
        line("First event: from sending the request to the first `data:` line. Events lost: events missing from"
                + " streams (plus any extra), of all events received, over all repeats; must be 0. Errors: failed and"
                + " non-2xx streams, plus streams still unfinished " + m("stream_drain") + " s after the end (cut). Closed idle: keep-alive"
                + " connections the server closed between two streams (the client reconnects; not an error). CPU per"
                + " stream: as for requests above (the mock's for direct). RSS: the highest VmRSS sampled every 0.2 s"
                + " during the run; heap: jstat in the middle of the run (used of committed).");
        line("");
        for (String s : scenarios) {
            String[] level = s.substring("stream-".length()).split("-");
            noise(s, "the " + f(Double.parseDouble(level[0]), 0) + "-stream runs"
                    + (level.length > 1 ? " (" + level[1] + " ms)" : ""));
        }
    }

    private void startup() {
        line("## Start-up and footprint");
        line("");
        line("| what | value |");
        line("| --- | --- |");
        String s = "startup";
        Map<String, Map<String, List<Double>>> st = runs.getOrDefault(s, Map.of());
        if (st.containsKey("proxy")) {
            List<Double> v = st.get("proxy").get("ready_ms");
            line("| process start → \"ready\" line (" + v.size() + " runs) | median **" + f(median(v), 0) + " ms** ("
                    + f(v.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN), 0) + "–"
                    + f(v.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN), 0) + " ms) |");
        }
        if (st.containsKey("proxy-appcds")) {
            List<Double> v = st.get("proxy-appcds").get("ready_ms");
            line("| same with an AppCDS archive (`-XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=…`, " + v.size()
                    + " runs) | median " + f(median(v), 0) + " ms ("
                    + f(v.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN), 0) + "–"
                    + f(v.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN), 0) + " ms) |");
        }
        if (!m("warmup_to_90_s").isEmpty()) {
            line("| load until 90% of the proxy's best warm-up rate (" + m("warmup_round_s") + "-s rounds of max-rate load:"
                    + " " + m("warmup_rates") + " req/s) | " + m("warmup_to_90_s") + " s |");
        }
        line("| jar size | " + f(mNum("jar_bytes") / 1e6, 1) + " MB (" + f(mNum("jar_bytes"), 0) + " bytes) |");
        line("| proxy RSS after start / peak over the whole run | " + f(mNum("rss_after_start_kb") / 1024, 0) + " MB / "
                + f(mNum("rss_peak_kb") / 1024, 0) + " MB |");
        line("| proxy log | " + f(mNum("access_lines"), 0) + " access lines, " + m("proxy_error_lines") + " ERROR, "
                + m("proxy_warn_lines") + " WARN lines" + ("1".equals(m("csv_plugin"))
                        ? "; " + f(mNum("usage_rows"), 0) + " usage rows in the CSV files" : "") + " |");
        String[] gc = m("gc_pauses").split(" ");
        if (gc.length == 3) {
            line("| proxy GC pauses over the whole run (" + m("proxy_flags") + ") | " + gc[0] + " pauses, " + gc[1]
                    + " ms in all, longest " + gc[2] + " ms |");
        }
        String[] all = m("gc_pauses_all").split(" ");
        if (all.length == 3) {
            line("| GC pauses of every proxy process of the run (main, TLS, default config, variants) | " + all[0]
                    + " pauses, " + all[1] + " ms in all, **longest " + all[2] + " ms** |");
        }
        String[] floor = m("gc_pauses_floor").split(" ");
        if (floor.length == 3) {
            line("| GC pauses of the floor relays | " + floor[0] + " pauses, longest " + floor[2] + " ms |");
        }
        line("| SIGTERM | exit code " + m("stop_code") + " |");
        line("| this run | " + m("elapsed_s") + " s, " + m("failures") + " failure(s) |");
        line("");
    }

    private void chartData(Path dir) throws IOException {
        StringBuilder ns = new StringBuilder("target p50 p90 p99\n");
        for (String t : targets("ns")) {
            ns.append(t).append(' ').append(num(med("ns", t, "p50_ms"))).append(' ').append(num(med("ns", t, "p90_ms")))
                    .append(' ').append(num(med("ns", t, "p99_ms"))).append('\n');
        }
        Files.writeString(dir.resolve("ns.dat"), ns);
        StringBuilder fx = new StringBuilder("target p50 p90 p99 p99.9\n");
        for (String t : targets("fixed")) {
            fx.append(t).append(' ').append(num(med("fixed", t, "p50_ms"))).append(' ')
                    .append(num(med("fixed", t, "p90_ms"))).append(' ').append(num(med("fixed", t, "p99_ms"))).append(' ')
                    .append(num(med("fixed", t, "p999_ms"))).append('\n');
        }
        Files.writeString(dir.resolve("fixed.dat"), fx);
        StringBuilder st = new StringBuilder("target p50 p90 p99\n");
        for (String s : runs.keySet()) {
            if (!s.startsWith("stream-")) {
                continue;
            }
            for (String t : targets(s)) {
                st.append('"').append(s.substring(7)).append(' ').append(t).append("\" ")
                        .append(num(med(s, t, "ttfb_p50_ms"))).append(' ').append(num(med(s, t, "ttfb_p90_ms")))
                        .append(' ').append(num(med(s, t, "ttfb_p99_ms"))).append('\n');
            }
        }
        Files.writeString(dir.resolve("stream.dat"), st);
        Files.writeString(dir.resolve("labels.txt"), "ns=Non-streaming, max rate (" + m("load_tool").split(" --")[0]
                + ", " + m("ns_seconds") + " s)\nfixed=Fixed " + f(mNum("fixed_rate"), 0)
                + " req/s (half the proxy max)\nstream=SSE: time to first event\n");
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "NaN" : String.format(Locale.ROOT, "%.3f", v);
    }

    private void line(String s) {
        md.append(s).append('\n');
    }
}
