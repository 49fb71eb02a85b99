/**
 * The Azure OpenAI side: endpoints and targets, the {@link io.powerproxy.upstream.Balancer}'s order and blocks,
 * {@link io.powerproxy.upstream.Failover} trying the targets in turn, which headers cross the proxy, upstream
 * authentication, and the {@link java.net.http.HttpClient} call.
 */
package io.powerproxy.upstream;
