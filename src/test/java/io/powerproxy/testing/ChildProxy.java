package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Java main run in a child JVM on the test classpath, with none of the test JVM's system properties: by default the
 * proxy's own {@code main} on a config file and port 0, for tests of what a whole process does (JDK properties, SIGTERM).
 * Its output (stdout and stderr) is kept line by line.
 */
public final class ChildProxy implements AutoCloseable {

    private static final Pattern READY = Pattern.compile("ready on port (\\d+)");

    private final Process process;
    private final Thread reader;
    private final List<String> output = Collections.synchronizedList(new ArrayList<>());
    private int port;

    private ChildProxy(Process process) {
        this.process = process;
        this.reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    output.add(line);
                }
            } catch (IOException e) {
                output.add("(reading the output failed: " + e + ")");
            }
        });
    }

    /**
     * Starts {@code io.powerproxy.PowerProxy --config-file <config> --host 127.0.0.1 --port 0} with these JVM options
     * and waits for its "ready on port N" line.
     */
    public static ChildProxy start(Path config, List<String> jvmOptions) {
        return start(config, jvmOptions, Map.of());
    }

    /** The same, with extra environment variables for the child and extra arguments for the proxy. */
    public static ChildProxy start(Path config, List<String> jvmOptions, Map<String, String> environment,
            String... extraArguments) {
        return start(config, jvmOptions, environment, Duration.ofSeconds(60), extraArguments);
    }

    /** The same, waiting up to {@code startDeadline} for the ready line (a Java agent makes the start much slower). */
    public static ChildProxy start(Path config, List<String> jvmOptions, Map<String, String> environment,
            Duration startDeadline, String... extraArguments) {
        List<String> arguments = new ArrayList<>(
                List.of("--config-file", config.toString(), "--host", "127.0.0.1", "--port", "0"));
        arguments.addAll(List.of(extraArguments));
        ChildProxy child = run("io.powerproxy.PowerProxy", jvmOptions, environment, arguments);
        try {
            child.port = Integer.parseInt(child.awaitLine(READY, startDeadline).group(1));
            return child;
        } catch (RuntimeException | Error e) {
            child.close();
            throw e;
        }
    }

    /** Starts any main class of the classpath, with JVM options, extra environment variables and arguments. */
    public static ChildProxy run(String mainClass, List<String> jvmOptions, Map<String, String> environment,
            List<String> arguments) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        command.addAll(arguments);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(environment);
        try {
            return new ChildProxy(builder.start());
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + command + ": " + e.getMessage(), e);
        }
    }

    /** The port of the ready line, for a child started by {@link #start}. */
    public int port() {
        return port;
    }

    /** The child proxy's URI for a path and query. */
    public URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port + pathAndQuery);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The first output line that matches, waiting up to 60 s for it; fails with the output when the child ends first. */
    public Matcher awaitLine(Pattern pattern) {
        return awaitLine(pattern, Duration.ofSeconds(60));
    }

    private Matcher awaitLine(Pattern pattern, Duration deadline) {
        Matcher[] found = new Matcher[1];
        Await.until("the child printed a line matching " + pattern + "; its output so far:\n" + tail(), deadline,
                () -> {
                    found[0] = firstMatch(pattern);
                    if (found[0] == null && !process.isAlive()) {
                        reader.join(Duration.ofSeconds(5));
                        found[0] = firstMatch(pattern);
                        if (found[0] == null) {
                            throw new AssertionError("the child exited with " + process.exitValue()
                                    + " before printing a line matching " + pattern + ":\n" + output());
                        }
                    }
                    return found[0] != null;
                });
        return found[0];
    }

    /** The first whole output line that contains the text, waiting up to 60 s for it. */
    public String awaitLineContaining(String text) {
        return awaitLine(Pattern.compile(".*" + Pattern.quote(text) + ".*")).group();
    }

    private Matcher firstMatch(Pattern pattern) {
        synchronized (output) {
            for (String line : output) {
                Matcher matcher = pattern.matcher(line);
                if (matcher.find()) {
                    return matcher;
                }
            }
        }
        return null;
    }

    /** Sends SIGTERM (through the handle: {@link Process#destroy()} would also close the output still being read). */
    public void sigterm() {
        if (!process.toHandle().destroy()) {
            throw new AssertionError("SIGTERM could not be sent to the child");
        }
    }

    /** Sends SIGHUP, as {@code kill -HUP} does. */
    public void sighup() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new AssertionError("kill -HUP " + process.pid() + " failed with " + kill.exitValue());
        }
    }

    /** How many output lines contain the text, now. */
    public long linesContaining(String text) {
        synchronized (output) {
            return output.stream().filter(line -> line.contains(text)).count();
        }
    }

    /** Waits up to 60 s for the child to exit and for its last output line to be read, and returns its exit code. */
    public int awaitExit() throws InterruptedException {
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the child did not exit within 60 s:\n" + tail());
        }
        reader.join(Duration.ofSeconds(10));
        return process.exitValue();
    }

    /** Every output line so far, joined. */
    public String output() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    /** The last 40 output lines that are not access-log lines, for failure messages. */
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
