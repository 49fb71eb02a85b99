package io.powerproxy.loganalytics;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * An append-only JSON-lines file of the rows a service rejected, so that none is lost and an operator can send them
 * again once the cause is fixed. Each line is
 * <pre>{"dead_lettered_utc":"2026-11-25T10:15:30Z","status":400,"error":"...","row":{...the row as it was sent...}}</pre>
 */
public final class DeadLetterFile {

    private static final ObjectMapper JSON = Json.MAPPER;

    private final Path file;
    private final ReentrantLock appending = new ReentrantLock();

    public DeadLetterFile(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /**
     * Appends the rows with why they were rejected and forces them to disk.
     *
     * @param rows JSON objects, each on one line
     * @param status the HTTP status of the rejection, or 0 when the rows were never sent
     * @param error the service's error, or why they were not sent
     */
    void append(List<String> rows, int status, String error, Instant when) throws IOException {
        String prefix = "{\"dead_lettered_utc\":" + quote(when.toString()) + ",\"status\":" + status
                + ",\"error\":" + quote(error) + ",\"row\":";
        StringBuilder text = new StringBuilder(rows.size() * (prefix.length() + 512));
        for (String row : rows) {
            text.append(prefix).append(row).append("}\n");
        }
        ByteBuffer bytes = UTF_8.encode(text.toString());
        appending.lock();
        try {
            Files.createDirectories(file.getParent());
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND)) {
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
                channel.force(false);
            }
        } finally {
            appending.unlock();
        }
    }

    private static String quote(String text) {
        try {
            return JSON.writeValueAsString(text);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
