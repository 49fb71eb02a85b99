package io.powerproxy.pipeline;

import java.util.function.LongSupplier;

/**
 * What a usage sink tells the metrics about its rows (README "Metrics"): each call adds to a counter labelled with the
 * sink's name; none does I/O or blocks, so they may be called on the request's thread.
 */
public interface UsageSinkMetrics {

    /** Counts nothing. */
    UsageSinkMetrics NONE = new UsageSinkMetrics() {
        @Override
        public void queued(long rows) {
        }

        @Override
        public void written(long rows) {
        }

        @Override
        public void deadLettered(long rows) {
        }

        @Override
        public void lost(long rows) {
        }

        @Override
        public void spooled(LongSupplier rowsWaiting) {
        }
    };

    /** Rows taken in to be written later (e.g. journaled for an upload thread). */
    void queued(long rows);

    /** Rows that reached their destination (a file, Log Analytics). */
    void written(long rows);

    /** Rows the destination refused for good, kept aside in a dead-letter file. */
    void deadLettered(long rows);

    /** Rows that could not be kept at all (only logged at ERROR). */
    void lost(long rows);

    /** How many rows wait in the sink's on-disk spool now, read at each scrape; called once, when the sink starts. */
    void spooled(LongSupplier rowsWaiting);
}
