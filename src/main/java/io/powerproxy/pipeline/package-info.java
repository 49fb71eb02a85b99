/**
 * The extension API that plugin authors read: {@link io.powerproxy.pipeline.Plugin} and its hooks, the
 * per-request {@link io.powerproxy.pipeline.Exchange}, {@link io.powerproxy.pipeline.ProxyException} for
 * rejections, and the factory/registry that finds plugins by name.
 */
package io.powerproxy.pipeline;
