/**
 * The configuration: immutable records, the YAML loader that validates them with the config path in every
 * message, where the YAML comes from, and the masked summary printed at start-up.
 *
 * <p>This package depends on no other package of the proxy.
 */
package io.powerproxy.config;
