/**
 * The extension API that plugin authors read: {@link io.powerproxy.pipeline.Plugin} and its hooks, the read-only
 * per-request {@link io.powerproxy.pipeline.Exchange}, {@link io.powerproxy.pipeline.RequestChanges} to change a
 * request before it goes upstream, {@link io.powerproxy.pipeline.ProxyException} for rejections,
 * {@link io.powerproxy.pipeline.PluginSettings} to read settings, and the factory/registry that finds plugins by name.
 * {@link io.powerproxy.pipeline.ExchangeState} and {@link io.powerproxy.pipeline.Pipeline} are the core's side.
 */
package io.powerproxy.pipeline;
