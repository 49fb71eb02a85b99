/**
 * Usage records, token counting and estimation, and usage sinks' plumbing: {@link io.powerproxy.usage.UsageRecord}
 * is what a request used, made by the request's {@link io.powerproxy.usage.UsageAccounting};
 * {@link io.powerproxy.usage.StreamUsage} and {@link io.powerproxy.usage.ResponseUsage} take the
 * {@link io.powerproxy.usage.Counts} from a streamed or a buffered answer, reported by the upstream or estimated with
 * {@link io.powerproxy.usage.TokenEstimator} in the encoding that {@link io.powerproxy.usage.TokenEncodings} picks
 * for the model; {@link io.powerproxy.usage.Spool} is the journal on disk of a sink that sends records later.
 */
package io.powerproxy.usage;
