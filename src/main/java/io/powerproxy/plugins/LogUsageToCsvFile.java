package io.powerproxy.plugins;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.UsageSinkMetrics;
import io.powerproxy.usage.UsageRecord;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends every usage record to a CSV file per UTC day in {@code log_dir}, as the Python original's
 * {@code LogUsageToCsvFile} did, and has the row in the operating system's hands before {@link #onUsage} returns.
 *
 * <p>The file format:
 * <ul>
 *   <li>Named {@code YYYYMMDD.logs.csv} after the UTC day of each record's {@code request_received_utc}. (The original
 *       wrote one {@code YYYYMMDD-HHMMSS.logs.csv} per process start into {@code ../logs}; the name keeps its
 *       date-first form and its {@code .logs.csv} ending.)</li>
 *   <li>A header row with the {@link UsageRecord#COLUMNS} when the file is new or empty. An existing file whose
 *       header differs (written by an older version) is left alone: the records go to {@code YYYYMMDD.2.logs.csv}
 *       (or {@code .3}, ...), so columns are never mixed.</li>
 *   <li>RFC 4180: UTF-8, CRLF line endings, fields with a comma, quote, CR or LF in quotes, quotes doubled; a
 *       missing value is an empty field, an empty text is {@code ""}.</li>
 * </ul>
 *
 * <p>With {@code format: original} it writes the Python original's file instead, for scripts that parse it: one file
 * per start, {@code YYYYMMDD-HHMMSS.logs.csv} after the local time of the start as the original named it, made with
 * its header when the plugin starts; the header without a line break and each row after a {@code \n}, so that the
 * file never ends with a line break; the original's columns and values ({@link OriginalFormat#csvRow}). A file of
 * that name that exists already (two starts within one second) is left alone for {@code YYYYMMDD-HHMMSS.2.logs.csv}.
 *
 * <p>Durability, in either format: each row is appended with one {@code write(2)} on the request's thread, under a
 * lock that keeps the rows in the order their calls took it, so a process crash loses no row whose {@code onUsage}
 * returned. A background thread forces the files to disk ({@code fdatasync}) every {@link #SYNC_INTERVAL}, so a machine crash
 * loses at most the rows of that last interval. A row that cannot be written (disk full, an I/O error) is logged at
 * ERROR as one JSON line with every column instead, and the request goes on.
 */
public final class LogUsageToCsvFile implements Plugin {

    static final String NAME = "LogUsageToCsvFile";
    static final String LOG_DIR = "log_dir";
    static final String DEFAULT_LOG_DIR = "logs/";
    /**
     * How often written rows are forced to disk: a machine crash loses at most this much. One {@code fdatasync} costs
     * 0.3 to 1 ms on ext4 whatever the number of rows, so once a second is no measurable load; left alone, Linux
     * writes dirty pages back only after up to 30 s ({@code vm.dirty_expire_centisecs}).
     */
    static final Duration SYNC_INTERVAL = Duration.ofSeconds(1);
    static final String HEADER = String.join(",", UsageRecord.COLUMNS);
    private static final Set<String> SETTINGS = new LinkedHashSet<>(List.of(LOG_DIR, OriginalFormat.SETTING));
    private static final String CRLF = "\r\n";
    private static final Logger LOG = LoggerFactory.getLogger(LogUsageToCsvFile.class);

    private final CsvFiles files;
    private final UsageSinkMetrics rows;
    private final Thread syncer;
    private final CountDownLatch closing = new CountDownLatch(1);

    private LogUsageToCsvFile(CsvFiles files, UsageSinkMetrics rows) {
        this.files = files;
        this.rows = rows;
        this.syncer = Thread.ofPlatform().daemon().name(NAME + "-sync").unstarted(this::syncUntilClosed);
    }

    /** The factory that registers this plugin under its name. */
    public static PluginFactory factory() {
        return PluginFactory.ofOwnSettingsOnly(NAME, context -> {
            List<String> problems = new ArrayList<>();
            Settings.rejectUnknown(context.settings(), SETTINGS, problems);
            boolean original = OriginalFormat.chosen(context.settings(), problems);
            Path dir = logDir(context, problems);
            UsageSinkMetrics rows = context.metrics().usageSink(NAME);
            if (!original) {
                return start(new CsvFiles(dir, new DailyLayout()), rows);
            }
            try {
                // Local time, as the original's time.strftime named its files.
                return createOriginal(dir, LocalDateTime.now(), rows);
            } catch (IOException e) {
                throw new ConfigException(context.settings().path() + "." + LOG_DIR + " '" + dir
                        + "' cannot hold a new usage file: " + e);
            }
        });
    }

    /** A sink writing a file per UTC day to the given directory, which must exist; starts its sync thread. */
    static LogUsageToCsvFile create(Path dir) {
        return start(new CsvFiles(Objects.requireNonNull(dir, "dir"), new DailyLayout()), UsageSinkMetrics.NONE);
    }

    /**
     * A sink writing the original's format to the given directory, which must exist, into one file named after
     * {@code startedAt}, which it makes now with its header; starts its sync thread.
     */
    static LogUsageToCsvFile createOriginal(Path dir, LocalDateTime startedAt) throws IOException {
        return createOriginal(dir, startedAt, UsageSinkMetrics.NONE);
    }

    private static LogUsageToCsvFile createOriginal(Path dir, LocalDateTime startedAt, UsageSinkMetrics rows)
            throws IOException {
        CsvFiles files = new CsvFiles(Objects.requireNonNull(dir, "dir"), new OriginalLayout(startedAt));
        files.startOriginalFile();
        return start(files, rows);
    }

    private static LogUsageToCsvFile start(CsvFiles files, UsageSinkMetrics rows) {
        LogUsageToCsvFile sink = new LogUsageToCsvFile(files, rows);
        sink.syncer.start();
        return sink;
    }

    /** The checked {@code log_dir}: created when missing, and writable; throws the problems found so far too. */
    private static Path logDir(PluginContext context, List<String> problems) throws ConfigException {
        String path = context.settings().path() + "." + LOG_DIR;
        Object value = context.settings().settings().getOrDefault(LOG_DIR, DEFAULT_LOG_DIR);
        Path dir = null;
        if (value instanceof String text && !text.isBlank()) {
            try {
                dir = Path.of(text).toAbsolutePath().normalize();
            } catch (InvalidPathException e) {
                problems.add(path + " is not a valid path: " + e.getMessage());
            }
        } else {
            problems.add(path + " must be the path of a directory, got " + Settings.describe(value));
        }
        if (dir != null) {
            try {
                Files.createDirectories(dir);
                Files.delete(Files.createTempFile(dir, ".write-test-", ".tmp"));
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                problems.add(path + " '" + dir + "' is not a writable directory: " + e.getClass().getSimpleName()
                        + ": " + e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return dir;
    }

    /** Appends the record's row to its day's file before it returns; never throws. */
    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        String failure = files.append(usage);
        if (failure == null) {
            rows.written(1);
        } else {
            rows.lost(1);
            LOG.error("{}: usage record not written ({}): {}", NAME, failure, LogUsageToConsole.json(usage));
        }
    }

    @Override
    public String readinessProblem() {
        return files.problem();
    }

    /** Forces and closes the files; records that arrive later are logged at ERROR. */
    @Override
    public void close() {
        closing.countDown();
        try {
            syncer.join(SYNC_INTERVAL.multipliedBy(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        files.close();
    }

    private void syncUntilClosed() {
        try {
            while (!closing.await(SYNC_INTERVAL.toNanos(), TimeUnit.NANOSECONDS)) {
                files.sync();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The CSV file name for a day and a suffix number (1 for none): {@code 20261125.logs.csv}, {@code 20261125.2.logs.csv}. */
    static String fileName(LocalDate day, int number) {
        return fileName(day.format(DateTimeFormatter.BASIC_ISO_DATE), number);
    }

    private static String fileName(String base, int number) {
        return number == 1 ? base + ".logs.csv" : base + "." + number + ".logs.csv";
    }

    /** Which file a record goes to, and the bytes that append its row there. */
    private interface Layout {

        /** The key of the record's file: its UTC day, or the one file of this start. */
        String fileKey(UsageRecord usage);

        /** The file for a key, among the numbered files of its name. */
        Path chooseFile(Path dir, String key) throws IOException;

        /** The bytes that append the record's row to a file of that size, whose last line is still open or not. */
        byte[] append(UsageRecord usage, long size, boolean openLine);
    }

    /** This proxy's format: a file per UTC day, RFC 4180 with CRLF after each line, our header. */
    private static final class DailyLayout implements Layout {

        @Override
        public String fileKey(UsageRecord usage) {
            return LocalDate.ofInstant(usage.requestReceivedUtc(), ZoneOffset.UTC).format(DateTimeFormatter.BASIC_ISO_DATE);
        }

        /** The first of the day's numbered files that is new, empty or has our header. */
        @Override
        public Path chooseFile(Path dir, String key) throws IOException {
            for (int number = 1; ; number++) {
                Path candidate = dir.resolve(fileName(key, number));
                String header = firstLine(candidate);
                if (header == null || header.equals(HEADER)) {
                    return candidate;
                }
                LOG.warn("{}: {} has other columns than this version writes; writing to the next file instead",
                        NAME, candidate);
            }
        }

        @Override
        public byte[] append(UsageRecord usage, long size, boolean openLine) {
            String before = size == 0 ? HEADER + CRLF : openLine ? CRLF : "";
            return (before + row(usage)).getBytes(UTF_8);
        }
    }

    /** The Python original's format: one file per start, rows after a {@code \n}, its header, columns and values. */
    private static final class OriginalLayout implements Layout {

        static final String KEY = "start";
        private static final DateTimeFormatter STARTED = DateTimeFormatter.ofPattern("uuuuMMdd-HHmmss");

        private final String base;

        OriginalLayout(LocalDateTime startedAt) {
            this.base = startedAt.format(STARTED);
        }

        @Override
        public String fileKey(UsageRecord usage) {
            return KEY;
        }

        /** The first of the start's numbered files that does not exist: another process may be writing one that does. */
        @Override
        public Path chooseFile(Path dir, String key) {
            for (int number = 1; ; number++) {
                Path candidate = dir.resolve(fileName(base, number));
                if (!Files.exists(candidate)) {
                    return candidate;
                }
            }
        }

        @Override
        public byte[] append(UsageRecord usage, long size, boolean openLine) {
            String before = size == 0 ? OriginalFormat.CSV_HEADER + "\n" : openLine ? "\n" : "";
            return (before + OriginalFormat.csvRow(usage)).getBytes(UTF_8);
        }

        /** What a new file starts with: the header, without a line break (LogUsageToCsvFile.py, lines 44-46). */
        static byte[] header() {
            return OriginalFormat.CSV_HEADER.getBytes(UTF_8);
        }
    }

    /** One record as a CSV row with its CRLF. */
    static String row(UsageRecord usage) {
        StringBuilder row = new StringBuilder(256);
        for (String value : usage.values()) {
            if (!row.isEmpty()) {
                row.append(',');
            }
            appendField(row, value);
        }
        return row.append(CRLF).toString();
    }

    private static void appendField(StringBuilder row, String value) {
        if (value == null) {
            return;
        }
        boolean quote = value.isEmpty();
        for (int i = 0; i < value.length() && !quote; i++) {
            char c = value.charAt(i);
            quote = c == ',' || c == '"' || c == '\r' || c == '\n';
        }
        if (!quote) {
            row.append(value);
            return;
        }
        row.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '"') {
                row.append('"');
            }
            row.append(c);
        }
        row.append('"');
    }

    /**
     * The open files. Appends run on request threads under {@link #lock}, one {@code write(2)} per batch; the sync
     * thread forces the channels outside the lock (a channel may be forced while another thread writes to it).
     */
    private static final class CsvFiles {

        private static final int DAYS_OPEN = 2;

        private final Path dir;
        private final Layout layout;
        private final ReentrantLock lock = new ReentrantLock();
        /** By {@link Layout#fileKey}, oldest day first. Guarded by {@link #lock}. */
        private final TreeMap<String, DayFile> open = new TreeMap<>();
        /** Guarded by {@link #lock}. */
        private boolean closed;
        /** Rows of requests waiting for the lock; whoever holds it writes them all. */
        private final ConcurrentLinkedQueue<Waiting> waiting = new ConcurrentLinkedQueue<>();
        private volatile String problem;

        CsvFiles(Path dir, Layout layout) {
            this.dir = dir;
            this.layout = layout;
        }

        /** Makes this start's file now, with the original's header, as the original did when it started. */
        void startOriginalFile() throws IOException {
            lock.lock();
            try {
                DayFile file = DayFile.open(layout.chooseFile(dir, OriginalLayout.KEY));
                try {
                    file.append(OriginalLayout.header());
                } catch (IOException e) {
                    file.close();
                    throw e;
                }
                open.put(OriginalLayout.KEY, file);
            } finally {
                lock.unlock();
            }
        }

        /**
         * Appends a record's row; returns null when it was written, else why not. Rows of requests that end at the
         * same time go out together: whichever request holds the lock writes every row waiting, one {@code write(2)}
         * (and one check of the file's path) for all of them, and the others find theirs written when they get the
         * lock. Each call still returns only after its row is in the file, or failed.
         */
        String append(UsageRecord usage) {
            Waiting mine = new Waiting(usage, layout.fileKey(usage));
            waiting.add(mine);
            lock.lock();
            try {
                if (!mine.done) {
                    writeWaiting();
                }
                return mine.failure;
            } finally {
                lock.unlock();
            }
        }

        /** Writes every waiting row, those of one file with one write. Holds {@link #lock}. */
        private void writeWaiting() {
            List<Waiting> batch = new ArrayList<>();
            for (Waiting next = waiting.poll(); next != null; next = waiting.poll()) {
                batch.add(next);
            }
            int from = 0;
            while (from < batch.size()) {
                String day = batch.get(from).day;
                int to = from + 1;
                while (to < batch.size() && batch.get(to).day.equals(day)) {
                    to++;
                }
                List<Waiting> rows = batch.subList(from, to);
                String failure = write(day, rows);
                for (Waiting row : rows) {
                    row.failure = failure;
                    row.done = true;
                }
                from = to;
            }
        }

        /** Writes rows of one file's key; returns null when they were written, else why not. Holds {@link #lock}. */
        private String write(String day, List<Waiting> rows) {
            try {
                if (closed) {
                    return "the sink is closed";
                }
                DayFile file = open.get(day);
                if (file != null && !file.isStillAtItsPath()) {
                    LOG.warn("{}: {} was moved or deleted; starting it again", NAME, file.path());
                    close(open.remove(day));
                    file = null;
                }
                if (file == null) {
                    file = DayFile.open(layout.chooseFile(dir, day));
                    open.put(day, file);
                    if (open.size() > DAYS_OPEN) {
                        close(open.pollFirstEntry().getValue());
                    }
                }
                file.append(bytesOf(rows, file.size(), file.openLine()));
                problem = null;
                return null;
            } catch (IOException | RuntimeException e) {
                String failure = "cannot append to a file in " + dir + ": " + e;
                problem = "the last usage record could not be written, so it was logged at ERROR: " + e;
                close(open.remove(day));
                return failure;
            }
        }

        /** The rows as the layout writes them one after the other into a file of this size. */
        private byte[] bytesOf(List<Waiting> rows, long size, boolean openLine) {
            if (rows.size() == 1) {
                return layout.append(rows.getFirst().usage, size, openLine);
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(rows.size() * 256);
            for (Waiting row : rows) {
                byte[] next = layout.append(row.usage, size, openLine);
                bytes.writeBytes(next);
                size += next.length;
                openLine = next.length > 0 ? next[next.length - 1] != '\n' : openLine;
            }
            return bytes.toByteArray();
        }

        String problem() {
            return problem;
        }

        /** Forces every open file to disk; a failure is logged, and the next interval tries again. */
        void sync() {
            List<DayFile> files;
            lock.lock();
            try {
                files = List.copyOf(open.values());
            } finally {
                lock.unlock();
            }
            for (DayFile file : files) {
                file.force();
            }
        }

        void close() {
            lock.lock();
            try {
                closed = true;
                open.values().forEach(file -> {
                    file.force();
                    close(file);
                });
                open.clear();
            } finally {
                lock.unlock();
            }
        }

        private static void close(DayFile file) {
            if (file != null) {
                file.close();
            }
        }

    }

    /** A row on its way into a file: {@link #done} once written or failed ({@link #failure}), under the lock. */
    private static final class Waiting {
        final UsageRecord usage;
        final String day;
        boolean done;
        String failure;

        Waiting(UsageRecord usage, String day) {
            this.usage = usage;
            this.day = day;
        }
    }

    /** The first line of a file without its line ending, or null when the file is missing or empty. */
    private static String firstLine(Path file) throws IOException {
        byte[] start;
        try (InputStream in = Files.newInputStream(file)) {
            start = in.readNBytes(8192);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (start.length == 0) {
            return null;
        }
        String text = new String(start, UTF_8);
        int end = text.indexOf('\n');
        String line = end < 0 ? text : text.substring(0, end);
        return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
    }

    /**
     * One usage file (a day's, or a start's in the original's format), open to append. Only the lock holder of {@link CsvFiles} writes it, so {@link #size} is the
     * file's size as this process left it.
     */
    private static final class DayFile {

        private final Path path;
        private final RandomAccessFile file;
        private final Object fileKey;
        private long size;
        /** The last line has no line break yet: a crash left it so, or the original's format always does. */
        private boolean openLine;
        /** Whether the file's position is its end, as after our own last write: no seek needed before the next. */
        private boolean atEnd;

        private DayFile(Path path, RandomAccessFile file, Object fileKey, long size, boolean openLine) {
            this.path = path;
            this.file = file;
            this.fileKey = fileKey;
            this.size = size;
            this.openLine = openLine;
        }

        /**
         * Opens a file to append, creating it, and the directory again when someone deleted it. Written through a
         * {@link RandomAccessFile}, whose writes are not interruptible: a {@code FileChannel} is closed for every
         * thread when a thread using it is interrupted, and request threads are interrupted when a stop cuts them off.
         */
        static DayFile open(Path path) throws IOException {
            RandomAccessFile file;
            try {
                file = new RandomAccessFile(path.toFile(), "rw");
            } catch (FileNotFoundException e) {
                Files.createDirectories(path.getParent());
                file = new RandomAccessFile(path.toFile(), "rw");
            }
            try {
                long size = file.length();
                return new DayFile(path, file, fileKey(path), size, size > 0 && !endsWithLineBreak(file, size));
            } catch (IOException | RuntimeException e) {
                file.close();
                throw e;
            }
        }

        Path path() {
            return path;
        }

        long size() {
            return size;
        }

        boolean openLine() {
            return openLine;
        }

        /**
         * Whether the path still names this file. One {@code stat(2)} per row, so that a deleted directory or a file
         * moved away (log rotation) is noticed before a row goes into a file nobody will read.
         */
        boolean isStillAtItsPath() {
            try {
                return Objects.equals(fileKey, fileKey(path));
            } catch (IOException e) {
                return false;
            }
        }

        /**
         * Writes the bytes (rows, with what must come before them) with one {@code write(2)}. On failure the file is
         * cut back to where it was, so that no half row stays for the next one to extend.
         */
        void append(byte[] bytes) throws IOException {
            int length = bytes.length;
            try {
                if (!atEnd) {
                    file.seek(size);
                    atEnd = true;
                }
                file.write(bytes, 0, length);
            } catch (IOException e) {
                atEnd = false;
                try {
                    file.setLength(size);
                } catch (IOException truncateFailure) {
                    e.addSuppressed(truncateFailure);
                    openLine = true;
                }
                throw e;
            }
            size += length;
            openLine = length > 0 && bytes[length - 1] != '\n';
        }

        void force() {
            try {
                file.getChannel().force(false);
            } catch (ClosedChannelException closedMeanwhile) {
                // A failed append or the day's end closed it; whoever closed it forced it or found it broken.
            } catch (IOException e) {
                LOG.warn("{}: cannot force {} to disk: {}", NAME, path, e.toString());
            }
        }

        void close() {
            try {
                file.close();
            } catch (IOException e) {
                LOG.warn("{}: cannot close {}: {}", NAME, path, e.toString());
            }
        }

        private static Object fileKey(Path path) throws IOException {
            return Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        }

        /** Whether the file's last byte is LF. */
        private static boolean endsWithLineBreak(RandomAccessFile file, long size) throws IOException {
            file.seek(size - 1);
            return file.read() == '\n';
        }
    }
}
