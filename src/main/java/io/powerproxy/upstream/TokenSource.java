package io.powerproxy.upstream;

/** Supplies the Entra ID access token for endpoints without a key. Implementations are thread-safe. */
@FunctionalInterface
public interface TokenSource {

    /** A valid bearer token for {@code https://cognitiveservices.azure.com/.default}. */
    String token();
}
