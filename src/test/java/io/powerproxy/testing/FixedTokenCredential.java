package io.powerproxy.testing;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenCredential;
import com.azure.core.credential.TokenRequestContext;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import reactor.core.publisher.Mono;

/** A {@link TokenCredential} that hands out a fixed token and records the scopes it was asked for. */
public final class FixedTokenCredential implements TokenCredential {

    private final String token;
    private final List<List<String>> requestedScopes = new CopyOnWriteArrayList<>();

    public FixedTokenCredential(String token) {
        this.token = token;
    }

    @Override
    public Mono<AccessToken> getToken(TokenRequestContext request) {
        return Mono.fromSupplier(() -> getTokenSync(request));
    }

    @Override
    public AccessToken getTokenSync(TokenRequestContext request) {
        requestedScopes.add(List.copyOf(request.getScopes()));
        return new AccessToken(token, OffsetDateTime.now().plusHours(1));
    }

    /** The scopes of every token request, in order. */
    public List<List<String>> requestedScopes() {
        return requestedScopes;
    }
}
