/**
 * How {@code LogUsageToLogAnalytics} delivers its rows to the Logs Ingestion API: the rows in both column layouts, the
 * settings, batching and retries with backoff, and the dead-letter file for rows the service refuses.
 */
package io.powerproxy.loganalytics;
