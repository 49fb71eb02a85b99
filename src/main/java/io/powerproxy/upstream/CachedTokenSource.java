package io.powerproxy.upstream;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenCredential;
import com.azure.core.credential.TokenRequestContext;
import io.powerproxy.pipeline.ProxyException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokens for Azure OpenAI from an Azure Identity {@link TokenCredential}, cached until five minutes before they
 * expire; one caller refreshes while the others keep using the still-valid token.
 */
public final class CachedTokenSource implements TokenSource {

    /** The scope of Azure OpenAI (Cognitive Services) tokens. */
    public static final String SCOPE = "https://cognitiveservices.azure.com/.default";

    private static final Logger LOG = LoggerFactory.getLogger(CachedTokenSource.class);
    private static final Duration REFRESH_BEFORE_EXPIRY = Duration.ofMinutes(5);

    private final TokenCredential credential;
    private final Supplier<OffsetDateTime> clock;
    private final TokenRequestContext request = new TokenRequestContext().addScopes(SCOPE);
    private final AtomicReference<AccessToken> current = new AtomicReference<>();
    private final ReentrantLock refreshing = new ReentrantLock();

    private CachedTokenSource(TokenCredential credential, Supplier<OffsetDateTime> clock) {
        this.credential = credential;
        this.clock = clock;
    }

    public static CachedTokenSource of(TokenCredential credential) {
        return of(credential, OffsetDateTime::now);
    }

    static CachedTokenSource of(TokenCredential credential, Supplier<OffsetDateTime> clock) {
        if (credential == null) {
            throw new IllegalArgumentException("credential is null");
        }
        return new CachedTokenSource(credential, clock);
    }

    @Override
    public String token() {
        AccessToken token = current.get();
        if (fresh(token)) {
            return token.getToken();
        }
        if (token != null && token.getExpiresAt().isAfter(clock.get())) {
            // Still valid: one caller refreshes it, the others go on with it meanwhile instead of queueing.
            if (!refreshing.tryLock()) {
                return token.getToken();
            }
        } else {
            refreshing.lock();
        }
        try {
            token = current.get();
            if (fresh(token)) {
                return token.getToken();
            }
            AccessToken fetched = credential.getTokenSync(request);
            if (fetched == null || fetched.getToken() == null) {
                throw new IllegalStateException("the credential returned no token");
            }
            current.set(fetched);
            return fetched.getToken();
        } catch (RuntimeException e) {
            if (token != null && token.getExpiresAt().isAfter(clock.get())) {
                LOG.warn("upstream token refresh failed, using the current token until it expires: {}", e.toString());
                return token.getToken();
            }
            LOG.error("could not get an Entra ID token for Azure OpenAI ({})", credential.getClass().getSimpleName(), e);
            throw ProxyException.of(500, "UpstreamAuthenticationFailed",
                    "The proxy could not get an Entra ID token for Azure OpenAI from "
                            + credential.getClass().getSimpleName()
                            + ". Check its managed identity or credentials and its role on the Azure OpenAI resource.");
        } finally {
            refreshing.unlock();
        }
    }

    private boolean fresh(AccessToken token) {
        return token != null && token.getExpiresAt().minus(REFRESH_BEFORE_EXPIRY).isAfter(clock.get());
    }
}
