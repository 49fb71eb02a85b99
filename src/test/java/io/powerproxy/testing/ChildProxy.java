package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The proxy started as {@code java io.powerproxy.PowerProxy} in a JVM of its own, on the test's Java (the test
 * matrix's Java 21 in its Java 21 run), so that it starts exactly as a user starts it: main's carrier threads and JDK
 * properties included.
 */
public final class ChildProxy implements AutoCloseable {

    private static final Pattern READY_LINE = Pattern.compile("ready on port (\\d+)");
    private static final Duration READY_WITHIN = Duration.ofSeconds(60);

    private final Process process;
    private final Thread reader;
    private final List<String> output;
    private final int port;

    private ChildProxy(Process process, Thread reader, List<String> output, int port) {
        this.process = process;
        this.reader = reader;
        this.output = output;
        this.port = port;
    }

    /** Writes the YAML into {@code dir}, starts the proxy on it on a free loopback port, and waits until it is ready. */
    public static ChildProxy start(Path dir, String yaml, String... jvmOptions) throws IOException, InterruptedException {
        Path configFile = Files.writeString(dir.resolve("config.yaml"), yaml);
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(jvmOptions));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.powerproxy.PowerProxy",
                "--config-file", configFile.toString(), "--host", "127.0.0.1", "--port", "0"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        List<String> output = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger boundPort = new AtomicInteger();
        CountDownLatch ready = new CountDownLatch(1);
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    output.add(line);
                    Matcher readyLine = READY_LINE.matcher(line);
                    if (readyLine.find()) {
                        boundPort.set(Integer.parseInt(readyLine.group(1)));
                        ready.countDown();
                    }
                }
            } catch (IOException e) {
                output.add("(reading the output failed: " + e + ")");
            }
        });
        long readyBy = System.nanoTime() + READY_WITHIN.toNanos();
        while (!ready.await(50, TimeUnit.MILLISECONDS)) {
            if (!process.isAlive() || System.nanoTime() > readyBy) {
                process.destroyForcibly();
                reader.join(Duration.ofSeconds(5));
                throw new IllegalStateException("the proxy did not get ready:\n" + String.join("\n", output));
            }
        }
        return new ChildProxy(process, reader, output, boundPort.get());
    }

    public int port() {
        return port;
    }

    /** The proxy's output so far, for failure messages. */
    public String output() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        reader.join(Duration.ofSeconds(5));
    }
}
