/**
 * Where {@code LimitUsage} keeps the tokens each client used, or holds for requests in flight, per deployment and
 * minute: in this process, or in a Redis shared by every replica, behind a circuit breaker that falls back to local
 * budgets while Redis is away; and the Redis bulletin through which replicas tell each other of blocked targets and
 * low rate limits (headroom).
 */
package io.powerproxy.budgets;
