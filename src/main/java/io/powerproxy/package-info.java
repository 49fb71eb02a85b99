/** The command line, the wiring of the proxy's parts, and reloading a config file while it runs; nothing else. */
package io.powerproxy;
