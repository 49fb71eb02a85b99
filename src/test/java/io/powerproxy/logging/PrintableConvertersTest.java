package io.powerproxy.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped logback.xml writes messages and exception texts through the printable converters, so neither a
 * logged value nor an exception's message can start a line of its own.
 */
class PrintableConvertersTest {

    @TempDir
    Path dir;

    @Test
    void aMessageAndAnExceptionTextWithLineBreaksStayOnTheirOwnLines() throws Exception {
        Path log = dir.resolve("proxy.log");
        LoggerContext context = shippedConfigurationWritingTo(log);
        IOException cause = new IOException("bad\r\nINFO  access - forged cause");
        IllegalStateException failure = new IllegalStateException("failed\nINFO  access - forged message", cause);

        context.getLogger("io.powerproxy.test").error("value {}", "x\r\nINFO  access - forged value", failure);
        context.stop();

        List<String> lines = Files.readString(log, StandardCharsets.UTF_8).lines().toList();
        String all = String.join("\n", lines);
        assertTrue(lines.getFirst().endsWith("ERROR test - value x\\r\\nINFO  access - forged value"), all);
        assertEquals("java.lang.IllegalStateException: failed\\nINFO  access - forged message", lines.get(1), all);
        assertTrue(lines.contains("Caused by: java.io.IOException: bad\\r\\nINFO  access - forged cause"), all);
        assertEquals(0, lines.stream().filter(line -> line.startsWith("INFO")).count(), all);
    }

    /** The shipped logback.xml in its default text format, with its console appender turned into a file appender. */
    private static LoggerContext shippedConfigurationWritingTo(Path file) throws Exception {
        String text = resource("/powerproxy-logging/text.xml");
        String appender = text.substring(text.indexOf("<included>") + "<included>".length(), text.indexOf("</included>"));
        String include = "<include resource=\"powerproxy-logging/${POWERPROXY_LOG_FORMAT:-text}.xml\"/>";
        String shipped = resource("/logback.xml");
        assertTrue(shipped.contains(include), shipped);
        String toFile = shipped.replace(include, appender).replace("ch.qos.logback.core.ConsoleAppender", "ch.qos.logback.core.FileAppender")
                .replace("<target>System.out</target>", "<file>" + file + "</file>")
                .replace("<shutdownHook class=\"ch.qos.logback.core.hook.DefaultShutdownHook\"/>", "");
        assertNotEquals(shipped, toFile);
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new LogbackMDCAdapter());
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        configurator.doConfigure(new ByteArrayInputStream(toFile.getBytes(StandardCharsets.UTF_8)));
        return context;
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = PrintableConvertersTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
