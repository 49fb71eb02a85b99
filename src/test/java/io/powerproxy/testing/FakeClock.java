package io.powerproxy.testing;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/** A millisecond clock that only moves when a test moves it. */
public final class FakeClock implements LongSupplier {

    private final AtomicLong millis = new AtomicLong(1_000_000);

    @Override
    public long getAsLong() {
        return millis.get();
    }

    public void advance(Duration duration) {
        millis.addAndGet(duration.toMillis());
    }
}
