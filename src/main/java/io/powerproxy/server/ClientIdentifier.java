package io.powerproxy.server;

import io.powerproxy.config.ClientConfig;
import io.powerproxy.pipeline.ProxyException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Finds the client of a request from its {@code api-key} or {@code Authorization: Bearer} header (README "1. Client
 * identification").
 *
 * <p>Keys are looked up by their SHA-256 digest and then compared with {@link MessageDigest#isEqual}, so the time
 * taken does not tell an attacker how much of a guessed key was right.
 */
final class ClientIdentifier {

    /** The identified client, and the client's own Entra ID token when it authenticated with one. */
    record Identity(ClientConfig client, String passThroughToken) {
    }

    private final Map<String, ClientConfig> byKeyDigest;
    private final ClientConfig entraClient;

    private ClientIdentifier(Map<String, ClientConfig> byKeyDigest, ClientConfig entraClient) {
        this.byKeyDigest = byKeyDigest;
        this.entraClient = entraClient;
    }

    static ClientIdentifier of(List<ClientConfig> clients) {
        Map<String, ClientConfig> byKey = new HashMap<>();
        ClientConfig entra = null;
        for (ClientConfig client : clients) {
            if (client.usesEntraIdAuth()) {
                entra = client;
            } else {
                byKey.put(digest(client.key()), client);
            }
        }
        return new ClientIdentifier(Map.copyOf(byKey), entra);
    }

    /**
     * Identifies the client.
     *
     * @param apiKey the {@code api-key} header, or null
     * @param authorization the {@code Authorization} header, or null
     * @throws ProxyException 401 when there are no credentials or they match no client
     */
    Identity identify(String apiKey, String authorization) {
        if (apiKey != null) {
            ClientConfig client = byKey(apiKey.trim());
            if (client == null) {
                throw unauthorized("The api-key is not a key of any client of this proxy. Use the key your platform team"
                        + " gave you, not an Azure OpenAI key.");
            }
            return new Identity(client, null);
        }
        if (authorization != null) {
            String value = authorization.trim();
            if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
                throw unauthorized("Only 'Authorization: Bearer <key or Entra ID token>' is accepted.");
            }
            String token = value.substring(7).trim();
            ClientConfig client = byKey(token);
            if (client != null) {
                return new Identity(client, null);
            }
            if (entraClient == null) {
                throw unauthorized("The bearer token is not a key of any client, and no client has"
                        + " 'uses_entra_id_auth: true', so Entra ID tokens are not accepted by this proxy.");
            }
            return new Identity(entraClient, token);
        }
        throw unauthorized("No credentials: send your client key in the 'api-key' header or as"
                + " 'Authorization: Bearer <key>'.");
    }

    private ClientConfig byKey(String key) {
        if (key.isEmpty()) {
            return null;
        }
        ClientConfig client = byKeyDigest.get(digest(key));
        if (client == null) {
            return null;
        }
        boolean same = MessageDigest.isEqual(client.key().getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8));
        return same ? client : null;
    }

    private static String digest(String key) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static ProxyException unauthorized(String message) {
        return ProxyException.of(401, "Unauthorized", message);
    }
}
