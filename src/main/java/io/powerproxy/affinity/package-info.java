/**
 * Object affinity: files, assistants, threads, vector stores, batches and responses live in one Azure resource, so
 * the proxy remembers which endpoint created each (in memory, and in Redis when configured) and sends the calls that
 * follow up on it there, never to an endpoint that cannot know it (README "Objects stay with their endpoint").
 */
package io.powerproxy.affinity;
