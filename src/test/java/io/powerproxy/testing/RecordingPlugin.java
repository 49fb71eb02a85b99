package io.powerproxy.testing;

import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.usage.UsageRecord;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** A plugin that keeps every usage record it is given, for tests to inspect. */
public final class RecordingPlugin implements Plugin {

    private final List<UsageRecord> records = new CopyOnWriteArrayList<>();

    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        records.add(usage);
    }

    public List<UsageRecord> records() {
        return records;
    }

    /** Waits until at least {@code count} records arrived (records come just after the response ends); returns them. */
    public List<UsageRecord> await(int count) {
        Await.until(count + " usage records", records::size, () -> records.size() >= count);
        return List.copyOf(records);
    }

    /** The records by request id; fails if an id occurs twice. */
    public Map<String, UsageRecord> byRequestId() {
        Map<String, UsageRecord> byId = new ConcurrentHashMap<>();
        for (UsageRecord record : records) {
            if (byId.put(record.requestId(), record) != null) {
                throw new AssertionError("two usage records for request " + record.requestId());
            }
        }
        return byId;
    }
}
