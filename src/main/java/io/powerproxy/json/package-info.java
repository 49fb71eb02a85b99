/** The one JSON mapper of the process, with buffers recycled across virtual threads. */
package io.powerproxy.json;
