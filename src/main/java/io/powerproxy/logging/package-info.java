/**
 * Text that is safe to write into a log line or a usage record, and the Logback converters that apply it to every
 * message; depends on nothing else of the proxy.
 */
package io.powerproxy.logging;
