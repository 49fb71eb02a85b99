/**
 * W3C Trace Context for each request: the {@code traceparent} and {@code tracestate} the proxy forwards upstream and
 * the trace id it writes into its logs and usage records (README "Tracing (OpenTelemetry)"); depends on nothing else
 * of the proxy but its logging.
 */
package io.powerproxy.tracing;
