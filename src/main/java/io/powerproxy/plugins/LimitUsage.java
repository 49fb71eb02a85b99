package io.powerproxy.plugins;

import io.powerproxy.budgets.CircuitBreaker;
import io.powerproxy.budgets.FailoverTokenBudgets;
import io.powerproxy.budgets.LocalTokenBudgets;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisSettings;
import io.powerproxy.budgets.RedisTokenBudgets;
import io.powerproxy.budgets.Reservation;
import io.powerproxy.budgets.TokenBudgets;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.TokenDemand;
import io.powerproxy.usage.UsageRecord;
import io.powerproxy.usage.UsageRecord.Operation;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokens per minute per client and deployment (README "LimitUsage"): a client whose budget for the current minute has
 * no room for a request gets 429 with {@code retry-after-ms} and {@code retry-after} to the next minute and
 * {@code x-ratelimit-remaining-tokens}, before anything is sent upstream.
 *
 * <p>Budgets come from each client's {@code max_tokens_per_minute_in_k}: one number for every deployment, or a
 * map from deployment to number. A deployment missing from a client's map is not limited. Requests that name no
 * deployment, in their path or in their JSON body's {@code model}, are not limited.
 *
 * <p>With {@code admission: reserve} (the default), a request holds what it may use before it goes upstream: its
 * prompt estimated with jtokkit plus its completion bound ({@code max_tokens} and the like, else
 * {@code default_completion_tokens}), held only if it fits, in one atomic step. When its usage is known the hold is
 * settled at the tokens used, the rest given back; a request that ends with no usage (refused later, no target left,
 * failed) gives it all back. So concurrent requests cannot overrun a budget together. With {@code admission: after},
 * as in the Python original, the budget is checked before the request and the tokens are counted when its usage is
 * known, so requests admitted at once may together overrun it.
 *
 * <p>Without a {@code redis:} setting each replica keeps its own budgets ({@link LocalTokenBudgets}). With one (see
 * {@link RedisSettings} for its keys), the budgets are shared by every replica through Redis
 * ({@link RedisTokenBudgets}): two script calls per request (reserve and settle; with {@code after}, one {@code GET}
 * and one script call). While Redis cannot be reached, requests are served on the replica's own budget, or with
 * {@code redis_fail_mode: closed} refused with 503 {@code BudgetStoreUnavailable}; the outage is logged once and
 * reported by {@link #readinessProblem()} ({@link FailoverTokenBudgets} tells the details).
 */
public final class LimitUsage implements Plugin {

    static final String NAME = "LimitUsage";
    static final String BUDGET_KEY = "max_tokens_per_minute_in_k";
    private static final Logger LOG = LoggerFactory.getLogger(LimitUsage.class);
    static final String ADMISSION_KEY = "admission";
    static final String DEFAULT_COMPLETION_KEY = "default_completion_tokens";
    /** What a request without a completion bound is taken to use at most, unless the config says otherwise. */
    static final long DEFAULT_COMPLETION_TOKENS = 1000;
    private static final Exchange.Key<Long> MINUTE = Exchange.Key.of("LimitUsage.minute");
    private static final Exchange.Key<Reservation> RESERVATION = Exchange.Key.of("LimitUsage.reservation");

    /** When a request's tokens are taken from its budget. */
    enum Admission {
        /** Held before the request goes upstream, if they fit, and settled to the real usage at its end. */
        RESERVE,
        /** Counted at the end, as in the Python original: the check before the request only sees finished ones. */
        AFTER
    }

    /** A client's budget in tokens: one for every deployment, or per deployment. */
    private record Budget(Long everyDeployment, Map<String, Long> perDeployment) {
        Long limitFor(String deployment) {
            return everyDeployment != null ? everyDeployment : perDeployment.get(deployment);
        }
    }

    /**
     * The tokens used, shared by this plugin and those that took it over in a config reload; closed when the last of
     * them is closed.
     */
    private static final class SharedStore {
        private final TokenBudgets used;
        private final AtomicInteger holders = new AtomicInteger(1);

        SharedStore(TokenBudgets used) {
            this.used = used;
        }

        SharedStore retain() {
            holders.incrementAndGet();
            return this;
        }

        void release() {
            if (holders.decrementAndGet() == 0) {
                used.close();
            }
        }
    }

    /** By client name (names are unique), so that a client of an equal config parsed twice finds its budget. */
    private final Map<String, Budget> budgets;
    private final SharedStore store;
    private final TokenBudgets used;
    private final LongSupplier epochMillis;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Admission admission;
    private final long defaultCompletionTokens;

    private LimitUsage(Map<String, Budget> budgets, SharedStore store, LongSupplier epochMillis, Admission admission,
            long defaultCompletionTokens) {
        this.budgets = budgets;
        this.store = store;
        this.used = store.used;
        this.epochMillis = epochMillis;
        this.admission = admission;
        this.defaultCompletionTokens = defaultCompletionTokens;
    }

    /** The factory that registers this plugin under its name. */
    public static PluginFactory factory() {
        return factory(System::currentTimeMillis);
    }

    /** The factory with an injected wall clock (epoch ms), for tests. */
    static PluginFactory factory(LongSupplier epochMillis) {
        return factory(epochMillis, RedisOptions.DEFAULTS);
    }

    /** The factory with an injected wall clock and Redis options (TLS trust, key lifetime, breaker), for tests. */
    static PluginFactory factory(LongSupplier epochMillis, RedisOptions redisOptions) {
        return new PluginFactory() {
            @Override
            public String name() {
                return NAME;
            }

            @Override
            public Plugin create(PluginContext context) throws ConfigException {
                return LimitUsage.create(context, epochMillis, redisOptions);
            }

            /** Budgets spent stay spent when the clients change: the new plugin counts in the running one's store. */
            @Override
            public Plugin reload(Plugin running, PluginContext runningContext, PluginContext context)
                    throws ConfigException {
                if (PluginFactory.sameClients(runningContext, context)) {
                    return running;
                }
                List<String> problems = new ArrayList<>();
                Map<String, Budget> budgets = budgets(context, problems);
                if (!problems.isEmpty()) {
                    throw new ConfigException(problems);
                }
                LimitUsage previous = (LimitUsage) running;
                return new LimitUsage(budgets, previous.store.retain(), epochMillis, previous.admission,
                        previous.defaultCompletionTokens);
            }
        };
    }

    static LimitUsage create(PluginContext context, LongSupplier epochMillis) throws ConfigException {
        return create(context, epochMillis, RedisOptions.DEFAULTS);
    }

    static LimitUsage create(PluginContext context, LongSupplier epochMillis, RedisOptions redisOptions)
            throws ConfigException {
        List<String> problems = new ArrayList<>();
        Settings.rejectUnknown(context.settings(), Set.of("redis", ADMISSION_KEY, DEFAULT_COMPLETION_KEY), problems);
        Map<String, Budget> budgets = budgets(context, problems);
        Map<String, Object> settings = context.settings().settings();
        RedisSettings redis = settings.containsKey("redis")
                ? RedisSettings.parse(settings.get("redis"), context.settings().path() + ".redis", problems)
                : null;
        String path = context.settings().path();
        Admission admission = admission(settings.get(ADMISSION_KEY), path + "." + ADMISSION_KEY, problems);
        long defaultCompletion = defaultCompletion(settings.get(DEFAULT_COMPLETION_KEY),
                path + "." + DEFAULT_COMPLETION_KEY, problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        TokenBudgets used = redis == null ? new LocalTokenBudgets() : shared(redis, redisOptions, epochMillis);
        if (used instanceof FailoverTokenBudgets failover) {
            context.metrics().gauge("powerproxy_redis_breaker_open", "1 while LimitUsage's circuit breaker in front of"
                    + " Redis is open (budgets are per replica, or refused in fail mode closed), else 0",
                    () -> failover.breakerOpen() ? 1 : 0);
        }
        return new LimitUsage(budgets, new SharedStore(used), epochMillis, admission, defaultCompletion);
    }

    private static Admission admission(Object value, String path, List<String> problems) {
        if (value == null || "reserve".equals(value)) {
            return Admission.RESERVE;
        }
        if ("after".equals(value)) {
            return Admission.AFTER;
        }
        problems.add(path + " must be 'reserve' (hold a request's likely tokens before it goes upstream; exact) or"
                + " 'after' (count them when its usage is known, as the Python original; requests admitted at once"
                + " may overrun the budget), got " + Settings.describe(value));
        return Admission.RESERVE;
    }

    private static long defaultCompletion(Object value, String path, List<String> problems) {
        if (value == null) {
            return DEFAULT_COMPLETION_TOKENS;
        }
        if ((value instanceof Integer || value instanceof Long) && ((Number) value).longValue() >= 0) {
            return ((Number) value).longValue();
        }
        problems.add(path + " must be a whole number of 0 or more (the completion tokens held for a request that"
                + " sets no max_tokens), got " + Settings.describe(value));
        return DEFAULT_COMPLETION_TOKENS;
    }

    private static Map<String, Budget> budgets(PluginContext context, List<String> problems) {
        Map<String, Budget> budgets = new HashMap<>();
        for (ClientConfig client : context.clients()) {
            Budget budget = budget(client, problems);
            if (budget != null) {
                budgets.put(client.name(), budget);
            }
        }
        return Map.copyOf(budgets);
    }

    private static TokenBudgets shared(RedisSettings redis, RedisOptions options, LongSupplier epochMillis) {
        LOG.info("LimitUsage shares budgets through {} (TLS {}, timeout {} ms, fail mode {})", redis.address(),
                redis.ssl() ? "on" : "off", redis.timeoutMillis(), redis.failMode().name().toLowerCase(Locale.ROOT));
        return FailoverTokenBudgets.create(RedisTokenBudgets.create(redis, options), redis.address(), redis.failMode(),
                CircuitBreaker.create(options.breakerOpenFor(), options.breakerFailuresToOpen(), options.monotonicMillis()),
                epochMillis).checkInBackground(options.breakerFailuresToOpen());
    }

    private static Budget budget(ClientConfig client, List<String> problems) {
        String path = client.path() + "." + BUDGET_KEY;
        Object value = client.settings().get(BUDGET_KEY);
        if (value == null) {
            problems.add(path + " is required by " + NAME + " (client '" + client.name()
                    + "'): a number of thousand tokens per minute, or a map from deployment to such a number");
            return null;
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Long> perDeployment = new HashMap<>();
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                Double k = Settings.nonNegativeNumber(entry.getValue(), path + "." + entry.getKey(), problems);
                if (k != null) {
                    perDeployment.put(String.valueOf(entry.getKey()), Math.round(k * 1000));
                }
            }
            return new Budget(null, Map.copyOf(perDeployment));
        }
        Double k = Settings.nonNegativeNumber(value, path, problems);
        return k == null ? null : new Budget(Math.round(k * 1000), Map.of());
    }

    @Override
    public void onClientIdentified(Exchange exchange) {
        Long limit = limitWhen(Admission.AFTER, exchange);
        if (limit == null) {
            return;
        }
        String client = exchange.client().name();
        String deployment = exchange.deployment();
        long now = epochMillis.getAsLong();
        long minute = now / 60_000;
        exchange.put(MINUTE, minute);
        long spent;
        try {
            spent = used.used(client, deployment, minute);
        } catch (TokenBudgets.StoreUnavailableException e) {
            throw storeUnavailable();
        }
        if (spent >= limit) {
            long retryAfterMs = (minute + 1) * 60_000 - now;
            throw tooManyRequests(retryAfterMs, 0, "Client '" + client + "' has used its " + limit
                    + " tokens per minute for deployment '" + deployment + "'. Retry after " + seconds(retryAfterMs)
                    + " s, when the next minute starts.");
        }
    }

    /** With {@code admission: reserve}: holds what the request may use, as it goes upstream, or refuses it. */
    @Override
    public void onRequestReady(Exchange exchange) {
        Long limit = limitWhen(Admission.RESERVE, exchange);
        if (limit == null) {
            return;
        }
        String client = exchange.client().name();
        String deployment = exchange.deployment();
        long now = epochMillis.getAsLong();
        TokenDemand demand = exchange.tokenDemand();
        long completion = completionTokens(exchange, demand);
        long tokens = Math.max(1, demand.promptTokens() + completion);
        Reservation reservation;
        try {
            reservation = used.reserve(client, deployment, now / 60_000, tokens, limit);
        } catch (TokenBudgets.StoreUnavailableException e) {
            throw storeUnavailable();
        }
        if (reservation.granted()) {
            exchange.put(RESERVATION, reservation);
            return;
        }
        // The next minute has room for it: its window starts empty, and a request that needs more than the whole
        // budget runs when nothing else is used or held. Reservations in flight may leave room earlier when they
        // settle below what they hold, but when is not known.
        long retryAfterMs = (reservation.minute() + 1) * 60_000 - now;
        String why = "this request may use up to " + tokens + " tokens (about " + demand.promptTokens()
                + " of prompt and " + (demand.hasCompletionBound()
                        ? "its completion bound of " + completion
                        : completion + " of completion: LimitUsage's " + DEFAULT_COMPLETION_KEY
                                + ", as it sets no max_tokens")
                + ")";
        String message = tokens > limit
                ? "Client '" + client + "' has " + limit + " tokens per minute for deployment '" + deployment + "', and "
                        + why + ", more than the whole budget: it runs only when nothing else of a minute is used or"
                        + " held. Retry after " + seconds(retryAfterMs) + " s, when the next minute starts, or ask"
                        + " for fewer tokens (max_tokens)."
                : "Client '" + client + "' has " + reservation.used() + " of its " + limit + " tokens per minute for"
                        + " deployment '" + deployment + "' used or held by requests in flight, and " + why
                        + ". Retry after " + seconds(retryAfterMs) + " s, when the next minute starts, or ask for"
                        + " fewer tokens (max_tokens).";
        throw tooManyRequests(retryAfterMs, Math.max(0, limit - reservation.used()), message);
    }

    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        Reservation reservation = exchange.get(RESERVATION);
        if (reservation != null) {
            exchange.put(RESERVATION, null);
            used.settle(reservation, usage.totalTokens());
            return;
        }
        Long minute = exchange.get(MINUTE);
        if (minute != null && usage.totalTokens() > 0) {
            used.add(exchange.client().name(), exchange.deployment(), minute, usage.totalTokens());
        }
    }

    /** A request that held tokens and got no usage record used none upstream: it gives them all back. */
    @Override
    public void onRequestEnded(Exchange exchange) {
        Reservation reservation = exchange.get(RESERVATION);
        if (reservation != null) {
            exchange.put(RESERVATION, null);
            used.settle(reservation, 0);
        }
    }

    /** The request's limit when this plugin admits requests {@code mode}, else null. */
    private Long limitWhen(Admission mode, Exchange exchange) {
        return admission == mode ? limitFor(exchange) : null;
    }

    /** The client's budget in tokens for the request's deployment, or null when the request is not limited. */
    private Long limitFor(Exchange exchange) {
        String deployment = exchange.deployment();
        ClientConfig client = exchange.client();
        Budget budget = client == null ? null : budgets.get(client.name());
        return deployment == null || budget == null ? null : budget.limitFor(deployment);
    }

    /**
     * The completion tokens to hold: the client's bound, for each of the {@code n} choices it asks for; none for
     * embeddings; else the configured default.
     */
    private long completionTokens(Exchange exchange, TokenDemand demand) {
        if (!demand.hasCompletionBound()) {
            return Operation.ofPath(exchange.path()) == Operation.EMBEDDINGS ? 0 : defaultCompletionTokens;
        }
        JsonNode n = exchange.requestJsonField("n");
        long choices = n != null && n.isIntegralNumber() && n.asLong() > 1 ? n.asLong() : 1;
        return demand.completionBound() * choices;
    }

    private static long seconds(long millis) {
        return Math.max(1, (millis + 999) / 1000);
    }

    private static ProxyException tooManyRequests(long retryAfterMs, long remaining, String message) {
        // retry-after-ms too, as the 429 when every target is blocked: the openai SDKs prefer it to retry-after.
        return ProxyException.of(429, "TooManyRequests", message)
                .withHeader("retry-after-ms", Long.toString(retryAfterMs))
                .withHeader("retry-after", Long.toString(seconds(retryAfterMs)))
                .withHeader("x-ratelimit-remaining-tokens", Long.toString(remaining));
    }

    private static ProxyException storeUnavailable() {
        return ProxyException.of(503, "BudgetStoreUnavailable", "The store of token budgets shared by this"
                        + " proxy's replicas cannot be reached, and the proxy is set to refuse requests that need a"
                        + " budget until it can. Retry in a few seconds.")
                .withHeader("retry-after", "1");
    }

    @Override
    public String readinessProblem() {
        return used.problem();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            store.release();
        }
    }
}
