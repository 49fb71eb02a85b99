/**
 * The built-in plugins, one small class each, registered by name in {@code PowerProxy}: {@code AllowDeployments},
 * {@code LimitUsage}, and the usage sinks {@code LogUsageToConsole} and {@code LogUsageToCsvFile}, which queue
 * records on the request path and write them through a {@link io.powerproxy.usage.BatchingWriter}.
 */
package io.powerproxy.plugins;
