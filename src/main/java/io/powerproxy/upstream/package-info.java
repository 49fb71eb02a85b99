/**
 * The Azure OpenAI side: endpoints and targets, which headers cross the proxy, upstream authentication, and the
 * {@link java.net.http.HttpClient} call.
 */
package io.powerproxy.upstream;
