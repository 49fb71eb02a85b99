/**
 * The HTTP edge: the JDK {@code HttpServer}, the one request handler and the steps it leaves to others (reading the
 * body, relaying the answer), client identification, path checks, the proxy's own error documents and health
 * probes, and the runtime of one config that each request holds from its start to its end, so that a config reload
 * changes nothing under it. Only this package imports {@code com.sun.net.httpserver}.
 */
package io.powerproxy.server;
