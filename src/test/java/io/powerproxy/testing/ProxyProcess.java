package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The proxy's real {@code main} in a child JVM on the test class path, listening on a port the kernel picks, with its
 * output collected line by line: for tests of what only a whole process shows (signals, exit codes, flushing on
 * exit).
 */
public final class ProxyProcess implements AutoCloseable {

    private static final Pattern READY_LINE = Pattern.compile("ready on port (\\d+)");

    private final Process process;
    private final List<String> output = Collections.synchronizedList(new ArrayList<>());
    private final CountDownLatch ready = new CountDownLatch(1);
    private final Thread reader;
    private volatile int port;

    private ProxyProcess(Process process) {
        this.process = process;
        this.reader = Thread.ofVirtual().start(this::readOutput);
    }

    /**
     * Starts {@code io.powerproxy.PowerProxy} with these arguments (plus {@code --host 127.0.0.1 --port 0}) and extra
     * environment variables, and waits until it logs that it is ready (at most 60 s).
     */
    public static ProxyProcess start(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "io.powerproxy.PowerProxy"));
        command.addAll(List.of(args));
        command.addAll(List.of("--host", "127.0.0.1", "--port", "0"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        ProxyProcess proxy = new ProxyProcess(builder.start());
        try {
            long readyBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!proxy.ready.await(50, TimeUnit.MILLISECONDS)) {
                if (!proxy.process.isAlive() || System.nanoTime() > readyBy) {
                    proxy.reader.join(Duration.ofSeconds(5));
                    throw new AssertionError("the proxy did not get ready:\n" + proxy.log());
                }
            }
            return proxy;
        } catch (AssertionError | InterruptedException e) {
            proxy.close();
            throw e;
        }
    }

    private void readOutput() {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8))) {
            for (String line; (line = lines.readLine()) != null; ) {
                output.add(line);
                Matcher readyLine = READY_LINE.matcher(line);
                if (readyLine.find()) {
                    port = Integer.parseInt(readyLine.group(1));
                    ready.countDown();
                }
            }
        } catch (IOException e) {
            output.add("(reading the output failed: " + e + ")");
        }
    }

    /** The port the proxy listens on. */
    public int port() {
        return port;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Sends SIGTERM. Through the process handle: {@link Process#destroy()} sends the same signal but also closes the
     * output still being read.
     */
    public void sigterm() {
        if (!process.toHandle().destroy()) {
            throw new AssertionError("SIGTERM could not be sent");
        }
    }

    /** Waits for the process to exit, at most {@code timeout}, and returns its exit code; fails when it did not. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the proxy did not exit within " + timeout + ":\n" + tail());
        }
        reader.join(Duration.ofSeconds(10));
        return process.exitValue();
    }

    /** Waits until a line of the output contains {@code text}, at most {@code timeout}; fails when none did. */
    public String awaitLine(String text, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            synchronized (output) {
                for (String line : output) {
                    if (line.contains(text)) {
                        return line;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no line with '" + text + "' within " + timeout + ":\n" + tail());
    }

    /** Every line of output so far. */
    public String log() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    /** The last 40 lines of output other than access lines, for failure messages. */
    public String tail() {
        synchronized (output) {
            List<String> lines = output.stream().filter(line -> !line.contains(" access - ")).toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }
}
