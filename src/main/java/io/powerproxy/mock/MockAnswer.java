package io.powerproxy.mock;

/**
 * One answer of the mock upstream, ready to send.
 *
 * @param status the HTTP status
 * @param contentType the value of the {@code Content-Type} header
 * @param body the body; each answer gets its own copy, so the caller may keep or change it
 */
public record MockAnswer(int status, String contentType, byte[] body) {
}
