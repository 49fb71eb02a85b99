/**
 * The HTTP edge: the JDK {@code HttpServer}, the one request handler and the steps it leaves to others (reading the
 * body, relaying the answer), client identification, path checks, the proxy's own error documents and health
 * probes. Only this package imports {@code com.sun.net.httpserver}.
 */
package io.powerproxy.server;
