package io.powerproxy.usage;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A first-in-first-out queue of text lines on disk that outlives the process: lines are appended at the end, read
 * from the front in order and acknowledged once sent, for a sink that must keep what it cannot send yet.
 *
 * <p>Its directory holds three files:
 * <ul>
 *   <li>{@value #LINES}: the lines, UTF-8, each ended by LF, only ever appended to (and emptied once all are sent);</li>
 *   <li>{@value #OFFSET}: the byte offset of the first line not acknowledged yet, replaced atomically;</li>
 *   <li>{@value #LOCK}: locked while a process uses the directory, so that two processes never share a spool.</li>
 * </ul>
 * Appends and acknowledgements are forced to disk before they return. A crash after lines were sent but before they
 * were acknowledged leaves them to be sent again: what goes through a spool is delivered at least once, and exactly
 * once when the process does not crash between sending and acknowledging. All methods are thread-safe.
 */
public final class Spool implements AutoCloseable {

    static final String LINES = "spool.jsonl";
    static final String OFFSET = "spool.offset";
    static final String LOCK = "spool.lock";
    private static final Logger LOG = LoggerFactory.getLogger(Spool.class);
    private static final int READ_BLOCK = 64 * 1024;

    /**
     * One line read from the spool.
     *
     * @param line the text, without its LF
     * @param start the byte offset of its first byte in the file
     * @param end the byte offset just after its LF
     */
    public record Entry(String line, long start, long end) {
    }

    private final Path dir;
    private final Path linesFile;
    private final Path offsetFile;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final FileChannel channel;
    private final ReentrantLock access = new ReentrantLock();
    /** Guarded by {@link #access}: the offset of the first unacknowledged line. */
    private long offset;
    /** How many lines are not acknowledged yet; written under {@link #access}, read from any thread. */
    private volatile long pending;
    private volatile boolean closed;

    private Spool(Path dir, FileChannel lockChannel, FileLock lock, FileChannel channel) {
        this.dir = dir;
        this.linesFile = dir.resolve(LINES);
        this.offsetFile = dir.resolve(OFFSET);
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.channel = channel;
    }

    /**
     * Opens the spool in a directory (created when missing) and takes its lock; recovers what a previous process
     * left: its unacknowledged lines are pending again, and a last line cut short by a crash is logged and dropped.
     *
     * @throws IOException when the directory cannot be used, or another process (or another spool of this process)
     *     holds its lock
     */
    public static Spool open(Path dir) throws IOException {
        Objects.requireNonNull(dir, "dir");
        Files.createDirectories(dir);
        FileChannel lockChannel = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = lockChannel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            lockChannel.close();
            throw e;
        }
        if (lock == null) {
            lockChannel.close();
            throw new IOException("the spool " + dir + " is in use by another process (or another plugin of this one)");
        }
        FileChannel channel = null;
        try {
            channel = FileChannel.open(dir.resolve(LINES), StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            Spool spool = new Spool(dir, lockChannel, lock, channel);
            spool.recover();
            return spool;
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                channel.close();
            }
            lock.release();
            lockChannel.close();
            throw e;
        }
    }

    /** The file that holds the lines, for messages. */
    public Path file() {
        return linesFile;
    }

    /** How many lines are waiting to be sent. */
    public long pending() {
        return pending;
    }

    public boolean isEmpty() {
        return pending == 0;
    }

    /**
     * Appends lines at the end, in order, and forces them to disk. On failure nothing of them stays in the file.
     *
     * @param lines texts without LF (or CR) in them
     */
    public void append(List<String> lines) throws IOException {
        if (lines.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder(lines.size() * 512);
        for (String line : lines) {
            if (line.indexOf('\n') >= 0 || line.indexOf('\r') >= 0) {
                throw new IllegalArgumentException("a spool line must not contain a line break");
            }
            text.append(line).append('\n');
        }
        ByteBuffer bytes = UTF_8.encode(text.toString());
        access.lock();
        try {
            ensureOpen();
            long before = channel.size();
            try {
                long position = before;
                while (bytes.hasRemaining()) {
                    position += channel.write(bytes, position);
                }
                channel.force(false);
            } catch (IOException e) {
                try {
                    channel.truncate(before);
                } catch (IOException truncateFailure) {
                    e.addSuppressed(truncateFailure);
                }
                throw e;
            }
            pending += lines.size();
        } finally {
            access.unlock();
        }
    }

    /**
     * The first lines not acknowledged yet, oldest first, without removing them: at most {@code maxLines}, and no
     * more than {@code maxBytes} of text in all, except that the first line is returned whatever its size.
     */
    public List<Entry> peek(int maxLines, long maxBytes) throws IOException {
        if (maxLines < 1) {
            throw new IllegalArgumentException("maxLines must be at least 1: " + maxLines);
        }
        access.lock();
        try {
            ensureOpen();
            List<Entry> entries = new ArrayList<>();
            long size = channel.size();
            long position = offset;
            long lineStart = offset;
            long bytes = 0;
            ByteArrayOutputStream line = new ByteArrayOutputStream(1024);
            ByteBuffer block = ByteBuffer.allocate(READ_BLOCK);
            while (position < size) {
                block.clear();
                int read = channel.read(block, position);
                if (read <= 0) {
                    break;
                }
                block.flip();
                while (block.hasRemaining()) {
                    byte b = block.get();
                    position++;
                    if (b != '\n') {
                        line.write(b);
                        continue;
                    }
                    if (!entries.isEmpty() && bytes + line.size() > maxBytes) {
                        return entries;
                    }
                    bytes += line.size();
                    entries.add(new Entry(line.toString(UTF_8), lineStart, position));
                    line.reset();
                    lineStart = position;
                    if (entries.size() >= maxLines) {
                        return entries;
                    }
                }
            }
            return entries;
        } finally {
            access.unlock();
        }
    }

    /**
     * Marks lines from the front as sent: {@code sent} must be the first entries of the last {@link #peek}, in order.
     * Once every line is acknowledged the file is emptied.
     */
    public void acknowledge(List<Entry> sent) throws IOException {
        if (sent.isEmpty()) {
            return;
        }
        access.lock();
        try {
            ensureOpen();
            if (sent.getFirst().start() != offset) {
                throw new IllegalStateException("acknowledged lines must start at the front of the spool (offset "
                        + offset + "), not at " + sent.getFirst().start());
            }
            long end = sent.getLast().end();
            if (end >= channel.size()) {
                // Everything is sent: empty the file first, so that a crash now can only leave an offset too large,
                // which recover() reads as "nothing pending", never lines to send again.
                channel.truncate(0);
                channel.force(true);
                Files.deleteIfExists(offsetFile);
                offset = 0;
                pending = 0;
                return;
            }
            writeOffset(end);
            offset = end;
            pending = Math.max(0, pending - sent.size());
        } finally {
            access.unlock();
        }
    }

    /** Releases the lock and the files; the lines stay on disk for the next process. Calling it again does nothing. */
    @Override
    public void close() {
        access.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            closeQuietly(channel);
            try {
                lock.release();
            } catch (IOException e) {
                LOG.warn("cannot release the lock of the spool {}: {}", dir, e.toString());
            }
            closeQuietly(lockChannel);
        } finally {
            access.unlock();
        }
    }

    private void recover() throws IOException {
        long size = channel.size();
        long end = size;
        if (size > 0 && !endsWithLineBreak(size)) {
            end = lastLineBreak(size) + 1;
            byte[] torn = new byte[(int) Math.min(size - end, 4096)];
            channel.read(ByteBuffer.wrap(torn), end);
            LOG.warn("the spool {} ends in a line cut short by a crash ({} bytes), which cannot be sent: {}",
                    linesFile, size - end, new String(torn, UTF_8));
            channel.truncate(end);
            channel.force(false);
        }
        offset = readOffset(end);
        if (offset >= end) {
            if (end > 0) {
                channel.truncate(0);
                channel.force(true);
            }
            Files.deleteIfExists(offsetFile);
            offset = 0;
            pending = 0;
            return;
        }
        pending = countLineBreaks(offset, end);
    }

    /** The recorded offset, or 0 when there is none; an unreadable one means sending everything again. */
    private long readOffset(long size) throws IOException {
        String text;
        try {
            text = Files.readString(offsetFile, UTF_8).strip();
        } catch (NoSuchFileException e) {
            return 0;
        }
        try {
            long value = Long.parseLong(text);
            if (value < 0) {
                throw new NumberFormatException("negative");
            }
            if (value > 0 && value < size && !isLineStart(value)) {
                throw new NumberFormatException("not at the start of a line");
            }
            return value;
        } catch (NumberFormatException e) {
            LOG.warn("the spool offset {} is unreadable ('{}'); every line of {} will be sent again", offsetFile,
                    text, linesFile);
            return 0;
        }
    }

    private void writeOffset(long value) throws IOException {
        Path temporary = dir.resolve(OFFSET + ".tmp");
        try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer bytes = UTF_8.encode(Long.toString(value));
            while (bytes.hasRemaining()) {
                out.write(bytes);
            }
            out.force(true);
        }
        Files.move(temporary, offsetFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private boolean endsWithLineBreak(long size) throws IOException {
        return byteAt(size - 1) == '\n';
    }

    private boolean isLineStart(long position) throws IOException {
        return byteAt(position - 1) == '\n';
    }

    private int byteAt(long position) throws IOException {
        ByteBuffer one = ByteBuffer.allocate(1);
        return channel.read(one, position) == 1 ? one.get(0) : -1;
    }

    /** The offset of the last LF before {@code size}, or -1 when there is none. */
    private long lastLineBreak(long size) throws IOException {
        ByteBuffer block = ByteBuffer.allocate(READ_BLOCK);
        long blockEnd = size;
        while (blockEnd > 0) {
            long blockStart = Math.max(0, blockEnd - READ_BLOCK);
            block.clear().limit((int) (blockEnd - blockStart));
            channel.read(block, blockStart);
            for (int i = block.position() - 1; i >= 0; i--) {
                if (block.get(i) == '\n') {
                    return blockStart + i;
                }
            }
            blockEnd = blockStart;
        }
        return -1;
    }

    private long countLineBreaks(long from, long to) throws IOException {
        ByteBuffer block = ByteBuffer.allocate(READ_BLOCK);
        long count = 0;
        long position = from;
        while (position < to) {
            block.clear().limit((int) Math.min(READ_BLOCK, to - position));
            int read = channel.read(block, position);
            if (read <= 0) {
                break;
            }
            for (int i = 0; i < read; i++) {
                if (block.get(i) == '\n') {
                    count++;
                }
            }
            position += read;
        }
        return count;
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("the spool " + dir + " is closed");
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.warn("cannot close a spool file: {}", e.toString());
        }
    }
}
