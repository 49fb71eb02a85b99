/**
 * The built-in plugins, one small class each, registered by name in {@code PowerProxy}: {@code AllowDeployments},
 * {@code LimitUsage}, and the usage sinks {@code LogUsageToConsole}, {@code LogUsageToCsvFile} and
 * {@code LogUsageToLogAnalytics}, which hand each record to the operating system before the answer's last byte leaves.
 */
package io.powerproxy.plugins;
