package io.powerproxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenCredential;
import com.azure.core.credential.TokenRequestContext;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/** Entra ID tokens are cached until five minutes before they expire, refreshed by one caller, kept when a refresh fails. */
class CachedTokenSourceTest {

    private static final OffsetDateTime START = OffsetDateTime.parse("2026-01-05T10:00:00Z");
    private static final OffsetDateTime EXPIRES = START.plusHours(1);

    private final AtomicReference<OffsetDateTime> now = new AtomicReference<>(START);

    /** A credential whose n-th token is "token-n", valid for an hour from the clock's time; it may be scripted to fail or wait. */
    private final class ScriptedCredential implements TokenCredential {
        final AtomicInteger calls = new AtomicInteger();
        volatile RuntimeException failure;
        volatile CountDownLatch hold;

        @Override
        public Mono<AccessToken> getToken(TokenRequestContext request) {
            return Mono.fromSupplier(() -> getTokenSync(request));
        }

        @Override
        public AccessToken getTokenSync(TokenRequestContext request) {
            int call = calls.incrementAndGet();
            CountDownLatch latch = hold;
            if (latch != null) {
                try {
                    latch.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (failure != null) {
                throw failure;
            }
            return new AccessToken("token-" + call, now.get().plusHours(1));
        }
    }

    @Test
    void aTokenIsReusedUntilFiveMinutesBeforeItExpiresAndThenRefreshed() {
        ScriptedCredential credential = new ScriptedCredential();
        CachedTokenSource tokens = CachedTokenSource.of(credential, now::get);

        assertEquals("token-1", tokens.token());
        now.set(EXPIRES.minusMinutes(5).minusSeconds(1));
        assertEquals("token-1", tokens.token());
        assertEquals(1, credential.calls.get());

        now.set(EXPIRES.minusMinutes(5).plusSeconds(1));
        assertEquals("token-2", tokens.token());
        assertEquals("token-2", tokens.token());
        assertEquals(2, credential.calls.get());
    }

    @Test
    void whileOneCallerRefreshesTheOthersKeepUsingTheStillValidToken() throws Exception {
        ScriptedCredential credential = new ScriptedCredential();
        CachedTokenSource tokens = CachedTokenSource.of(credential, now::get);
        assertEquals("token-1", tokens.token());
        now.set(EXPIRES.minusMinutes(1));
        credential.hold = new CountDownLatch(1);

        try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<String> refresher = callers.submit(tokens::token);
            Await.until("one caller is refreshing", () -> credential.calls.get() == 2);
            List<Future<String>> others = List.of(callers.submit(tokens::token), callers.submit(tokens::token));

            for (Future<String> other : others) {
                assertEquals("token-1", other.get(30, TimeUnit.SECONDS), "the still-valid token, without waiting");
            }
            credential.hold.countDown();
            assertEquals("token-2", refresher.get(30, TimeUnit.SECONDS));
        }
        assertEquals(2, credential.calls.get(), "one refresh");
    }

    @Test
    void aFailedRefreshKeepsTheOldTokenWithAWarnUntilItExpiresAndThenGives500() {
        ScriptedCredential credential = new ScriptedCredential();
        CachedTokenSource tokens = CachedTokenSource.of(credential, now::get);
        assertEquals("token-1", tokens.token());
        credential.failure = new IllegalStateException("IMDS unreachable");
        now.set(EXPIRES.minusMinutes(2));

        try (CapturedLogs logs = CapturedLogs.start()) {
            assertEquals("token-1", tokens.token());
            assertTrue(logs.containing("token refresh failed").stream()
                    .anyMatch(line -> line.startsWith("WARN") && line.contains("IMDS unreachable")), logs.lines().toString());
        }

        now.set(EXPIRES.plusSeconds(1));
        ProxyException e = assertThrows(ProxyException.class, tokens::token);
        assertEquals(500, e.status());
        assertEquals("UpstreamAuthenticationFailed", e.code());
    }
}
