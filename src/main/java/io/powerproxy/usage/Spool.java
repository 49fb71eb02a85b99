package io.powerproxy.usage;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
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
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A first-in-first-out journal of text lines on disk that outlives the process: lines are appended at the end, read
 * from the front in order and acknowledged once sent, for a sink that must not lose what it has not sent yet.
 *
 * <p>Lines have positions in one endless byte stream, kept in segment files of about {@link #SEGMENT_BYTES}; its
 * directory holds:
 * <ul>
 *   <li>{@code spool-<position of its first byte, 19 digits>.jsonl}: the segments, lines in UTF-8, each ended by LF,
 *       only ever appended to; a segment is deleted once every line of it is acknowledged, so the journal holds what is
 *       not sent yet plus at most one segment;</li>
 *   <li>{@value #OFFSET}: the position of the first line not acknowledged yet, replaced atomically;</li>
 *   <li>{@value #LOCK}: locked while a process uses the directory, so that two processes never share a journal;</li>
 *   <li>{@value #IMPORT} (only put there by hand, or by an older version that kept one file): its lines are added at
 *       the end when the journal opens, and the file is removed.</li>
 * </ul>
 *
 * <p>An append is one {@code write(2)} and returns once the operating system has the bytes: a crash of the process
 * after it loses nothing. {@link #sync()} forces them to disk, for a background thread to call now and then; until
 * then a crash of the machine can lose the last lines. Acknowledgements are forced to disk. A crash after lines were
 * sent but before they were acknowledged leaves them to be sent again: what goes through a journal is delivered at
 * least once. All methods are thread-safe.
 */
public final class Spool implements AutoCloseable {

    static final String OFFSET = "spool.offset";
    static final String LOCK = "spool.lock";
    static final String IMPORT = "spool.jsonl";
    /** A new segment starts once the last one holds this much: about 10,000 usage rows. */
    static final long SEGMENT_BYTES = 4L * 1024 * 1024;
    private static final Pattern SEGMENT = Pattern.compile("spool-(\\d{19})\\.jsonl");
    private static final Logger LOG = LoggerFactory.getLogger(Spool.class);
    private static final int READ_BLOCK = 64 * 1024;

    /**
     * One line read from the journal.
     *
     * @param line the text, without its LF
     * @param start the position of its first byte
     * @param end the position just after its LF
     */
    public record Entry(String line, long start, long end) {
    }

    private final Path dir;
    private final Path offsetFile;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final ReentrantLock access = new ReentrantLock();
    /** Guarded by {@link #access}: the segments by the position of their first byte; the last one is appended to. */
    private final TreeMap<Long, Segment> segments = new TreeMap<>();
    /** Guarded by {@link #access}: the position of the first unacknowledged line. */
    private long offset;
    /** Guarded by {@link #access}: the position just after the last line. */
    private long end;
    /** How many lines are not acknowledged yet; written under {@link #access}, read from any thread. */
    private volatile long pending;
    /** Whether lines were appended since the last {@link #sync()}. */
    private volatile boolean unsynced;
    private volatile boolean closed;

    /**
     * A segment file, open to read and write. Appends go through the {@link RandomAccessFile}, whose writes are not
     * interruptible: a {@code FileChannel} is closed for every thread when a thread using it is interrupted, and request
     * threads append here and are interrupted when a stop cuts them off. Reads and forces use the channel.
     */
    private record Segment(long start, Path file, RandomAccessFile writer, FileChannel channel) {
    }

    private Spool(Path dir, FileChannel lockChannel, FileLock lock) {
        this.dir = dir;
        this.offsetFile = dir.resolve(OFFSET);
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /**
     * Opens the journal in a directory (created when missing) and takes its lock; recovers what a previous process
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
        Spool spool = new Spool(dir, lockChannel, lock);
        try {
            spool.recover();
            return spool;
        } catch (IOException | RuntimeException e) {
            spool.close();
            throw e;
        }
    }

    /** The directory of the journal, for messages. */
    public Path directory() {
        return dir;
    }

    /** The segment that lines are appended to. */
    public Path file() {
        access.lock();
        try {
            return segments.isEmpty() ? dir : segments.lastEntry().getValue().file();
        } finally {
            access.unlock();
        }
    }

    /** How many lines are waiting to be sent. */
    public long pending() {
        return pending;
    }

    public boolean isEmpty() {
        return pending == 0;
    }

    /**
     * Appends lines at the end, in order, with one write; returns once the operating system has them, not the disk
     * (see {@link #sync()}). On failure nothing of them stays in the journal.
     *
     * @param lines texts without LF (or CR) in them
     * @return how many lines are pending after these
     */
    public long append(List<String> lines) throws IOException {
        if (lines.isEmpty()) {
            return pending;
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
            Segment last = segments.lastEntry().getValue();
            if (end - last.start() >= SEGMENT_BYTES) {
                last = startSegment(end);
            }
            long before = end - last.start();
            try {
                last.writer().seek(before);
                last.writer().write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            } catch (IOException e) {
                try {
                    last.writer().setLength(before);
                } catch (IOException truncateFailure) {
                    e.addSuppressed(truncateFailure);
                }
                throw e;
            }
            end += bytes.limit();
            unsynced = true;
            pending += lines.size();
            return pending;
        } finally {
            access.unlock();
        }
    }

    /**
     * Forces what was appended to disk ({@code fdatasync}); does nothing when nothing was appended since the last
     * call. Appends go on meanwhile.
     */
    public void sync() throws IOException {
        if (!unsynced) {
            return;
        }
        unsynced = false;
        FileChannel channel;
        access.lock();
        try {
            if (closed) {
                return;
            }
            channel = segments.lastEntry().getValue().channel();
        } finally {
            access.unlock();
        }
        try {
            channel.force(false);
        } catch (ClosedChannelException rolledOver) {
            // A new segment was started meanwhile, which forced this one before closing it.
        } catch (IOException e) {
            unsynced = true;
            throw e;
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
            long position = offset;
            long lineStart = offset;
            long bytes = 0;
            ByteArrayOutputStream line = new ByteArrayOutputStream(1024);
            ByteBuffer block = ByteBuffer.allocate(READ_BLOCK);
            while (position < end) {
                Map.Entry<Long, Segment> holder = segments.floorEntry(position);
                Segment segment = holder.getValue();
                Map.Entry<Long, Segment> next = segments.higherEntry(position);
                long segmentEnd = next == null ? end : next.getKey();
                block.clear().limit((int) Math.min(READ_BLOCK, segmentEnd - position));
                int read = segment.channel().read(block, position - segment.start());
                if (read <= 0) {
                    throw new IOException("the spool segment " + segment.file() + " is shorter than expected");
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
     * The position is forced to disk; segments left with nothing to send are deleted, and once every line is
     * acknowledged the journal starts over, empty.
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
            long acknowledged = sent.getLast().end();
            if (acknowledged >= end) {
                startOver();
                return;
            }
            writeOffset(acknowledged);
            offset = acknowledged;
            pending = Math.max(0, pending - sent.size());
            deleteSegmentsBefore(offset);
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
            for (Segment segment : segments.values()) {
                closeQuietly(segment.channel());
            }
            segments.clear();
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

    /** Every line is acknowledged: delete the segments first, so that a crash now leaves nothing to send again. */
    private void startOver() throws IOException {
        for (Segment segment : segments.values()) {
            closeQuietly(segment.channel());
            Files.deleteIfExists(segment.file());
        }
        segments.clear();
        Files.deleteIfExists(offsetFile);
        offset = 0;
        end = 0;
        pending = 0;
        openSegment(0);
    }

    private void recover() throws IOException {
        List<Path> found;
        try (Stream<Path> files = Files.list(dir)) {
            found = files.filter(file -> SEGMENT.matcher(file.getFileName().toString()).matches()).sorted().toList();
        }
        Path imported = dir.resolve(IMPORT);
        if (found.isEmpty() && Files.exists(imported)) {
            // One file, as an older version kept it: its offset file holds positions in it, so it is the first segment.
            Path first = dir.resolve(segmentName(0));
            Files.move(imported, first, StandardCopyOption.ATOMIC_MOVE);
            found = List.of(first);
        }
        for (Path file : found) {
            Matcher name = SEGMENT.matcher(file.getFileName().toString());
            if (name.matches()) {
                openSegment(Long.parseLong(name.group(1)));
            }
        }
        if (segments.isEmpty()) {
            // Nothing was appended, or a crash came while starting over: nothing is pending.
            Files.deleteIfExists(offsetFile);
            openSegment(0);
        }
        Segment last = segments.lastEntry().getValue();
        long size = last.channel().size();
        if (size > 0 && byteAt(last, size - 1) != '\n') {
            long cut = lastLineBreak(last, size) + 1;
            byte[] torn = new byte[(int) Math.min(size - cut, 4096)];
            last.channel().read(ByteBuffer.wrap(torn), cut);
            LOG.warn("the spool {} ends in a line cut short by a crash ({} bytes), which cannot be sent: {}",
                    last.file(), size - cut, new String(torn, UTF_8));
            last.channel().truncate(cut);
            last.channel().force(false);
            size = cut;
        }
        end = last.start() + size;
        offset = Math.max(readOffset(end), segments.firstKey());
        if (offset >= end) {
            startOver();
        } else {
            deleteSegmentsBefore(offset);
            pending = countLineBreaks(offset, end);
        }
        importLines(imported);
    }

    /** Adds the lines of a file put into the directory by hand at the end, then removes it. */
    private void importLines(Path file) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        List<String> lines = Files.readAllLines(file, UTF_8).stream().filter(line -> !line.isBlank()).toList();
        append(lines);
        sync();
        Files.delete(file);
        LOG.info("{} lines of {} were added to the spool", lines.size(), file);
    }

    private Segment startSegment(long start) throws IOException {
        Segment previous = segments.lastEntry().getValue();
        previous.writer().getFD().sync();
        Segment segment = openSegment(start);
        deleteSegmentsBefore(offset);
        return segment;
    }

    private Segment openSegment(long start) throws IOException {
        Path file = dir.resolve(segmentName(start));
        RandomAccessFile writer = new RandomAccessFile(file.toFile(), "rw");
        Segment segment = new Segment(start, file, writer, writer.getChannel());
        segments.put(start, segment);
        return segment;
    }

    /** Deletes the segments that end at or before a position, never the last one (it is appended to). */
    private void deleteSegmentsBefore(long position) throws IOException {
        while (segments.size() > 1) {
            Map.Entry<Long, Segment> first = segments.firstEntry();
            if (segments.higherKey(first.getKey()) > position) {
                return;
            }
            segments.pollFirstEntry();
            closeQuietly(first.getValue().channel());
            Files.deleteIfExists(first.getValue().file());
        }
    }

    private static String segmentName(long start) {
        return "spool-%019d.jsonl".formatted(start);
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
            if (value > segments.firstKey() && value < size && !isLineStart(value)) {
                throw new NumberFormatException("not at the start of a line");
            }
            return value;
        } catch (NumberFormatException e) {
            LOG.warn("the spool offset {} is unreadable ('{}'); every line in {} will be sent again", offsetFile,
                    text, dir);
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

    private boolean isLineStart(long position) throws IOException {
        Segment segment = segments.floorEntry(position - 1).getValue();
        return byteAt(segment, position - 1 - segment.start()) == '\n';
    }

    private static int byteAt(Segment segment, long position) throws IOException {
        ByteBuffer one = ByteBuffer.allocate(1);
        return segment.channel().read(one, position) == 1 ? one.get(0) : -1;
    }

    /** The offset in the segment of its last LF before {@code size}, or -1 when there is none. */
    private static long lastLineBreak(Segment segment, long size) throws IOException {
        ByteBuffer block = ByteBuffer.allocate(READ_BLOCK);
        long blockEnd = size;
        while (blockEnd > 0) {
            long blockStart = Math.max(0, blockEnd - READ_BLOCK);
            block.clear().limit((int) (blockEnd - blockStart));
            segment.channel().read(block, blockStart);
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
            Segment segment = segments.floorEntry(position).getValue();
            Long next = segments.higherKey(position);
            long segmentEnd = next == null ? to : Math.min(next, to);
            block.clear().limit((int) Math.min(READ_BLOCK, segmentEnd - position));
            int read = segment.channel().read(block, position - segment.start());
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
