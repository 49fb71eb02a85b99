/** The command line and the wiring of the proxy's parts; nothing else. */
package io.powerproxy;
