package io.powerproxy.plugins;

import io.powerproxy.budgets.CircuitBreaker;
import io.powerproxy.budgets.FailoverTokenBudgets;
import io.powerproxy.budgets.LocalTokenBudgets;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisSettings;
import io.powerproxy.budgets.RedisTokenBudgets;
import io.powerproxy.budgets.TokenBudgets;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.UsageRecord;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokens per minute per client and deployment (README "LimitUsage"): a client whose budget for the current minute is
 * used up gets 429 with {@code retry-after-ms} and {@code retry-after} to the next minute and
 * {@code x-ratelimit-remaining-tokens}, before anything is sent upstream.
 *
 * <p>Budgets come from each client's {@code max_tokens_per_minute_in_k}: one number for every deployment, or a
 * map from deployment to number. A deployment missing from a client's map is not limited. Requests that name no
 * deployment, in their path or in their JSON body's {@code model}, are not limited. As in the Python original, the
 * check is made before the request and the tokens are counted when its usage is known, so one request may overrun
 * a budget once.
 *
 * <p>Without a {@code redis:} setting each replica keeps its own budgets ({@link LocalTokenBudgets}). With one (see
 * {@link RedisSettings} for its keys), the budgets are shared by every replica through Redis
 * ({@link RedisTokenBudgets}): one {@code GET} per check and one atomic script call per update. While Redis cannot be
 * reached, requests are served on the replica's own budget, or with {@code redis_fail_mode: closed} refused with 503
 * {@code BudgetStoreUnavailable}; the outage is logged once and reported by {@link #readinessProblem()}
 * ({@link FailoverTokenBudgets} tells the details).
 */
public final class LimitUsage implements Plugin {

    static final String NAME = "LimitUsage";
    static final String BUDGET_KEY = "max_tokens_per_minute_in_k";
    private static final Logger LOG = LoggerFactory.getLogger(LimitUsage.class);
    private static final Exchange.Key<Long> MINUTE = Exchange.Key.of("LimitUsage.minute");

    /** A client's budget in tokens: one for every deployment, or per deployment. */
    private record Budget(Long everyDeployment, Map<String, Long> perDeployment) {
        Long limitFor(String deployment) {
            return everyDeployment != null ? everyDeployment : perDeployment.get(deployment);
        }
    }

    /** By client name (names are unique), so that a client of an equal config parsed twice finds its budget. */
    private final Map<String, Budget> budgets;
    private final TokenBudgets used;
    private final LongSupplier epochMillis;

    private LimitUsage(Map<String, Budget> budgets, TokenBudgets used, LongSupplier epochMillis) {
        this.budgets = budgets;
        this.used = used;
        this.epochMillis = epochMillis;
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
        };
    }

    static LimitUsage create(PluginContext context, LongSupplier epochMillis) throws ConfigException {
        return create(context, epochMillis, RedisOptions.DEFAULTS);
    }

    static LimitUsage create(PluginContext context, LongSupplier epochMillis, RedisOptions redisOptions)
            throws ConfigException {
        List<String> problems = new ArrayList<>();
        Settings.rejectUnknown(context.settings(), Set.of("redis"), problems);
        Map<String, Budget> budgets = new HashMap<>();
        for (ClientConfig client : context.clients()) {
            Budget budget = budget(client, problems);
            if (budget != null) {
                budgets.put(client.name(), budget);
            }
        }
        Map<String, Object> settings = context.settings().settings();
        RedisSettings redis = settings.containsKey("redis")
                ? RedisSettings.parse(settings.get("redis"), context.settings().path() + ".redis", problems)
                : null;
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        TokenBudgets used = redis == null ? new LocalTokenBudgets() : shared(redis, redisOptions, epochMillis);
        if (used instanceof FailoverTokenBudgets failover) {
            context.metrics().gauge("powerproxy_redis_breaker_open", "1 while LimitUsage's circuit breaker in front of"
                    + " Redis is open (budgets are per replica, or refused in fail mode closed), else 0",
                    () -> failover.breakerOpen() ? 1 : 0);
        }
        return new LimitUsage(Map.copyOf(budgets), used, epochMillis);
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
        String deployment = exchange.deployment();
        ClientConfig client = exchange.client();
        Budget budget = client == null ? null : budgets.get(client.name());
        if (deployment == null || budget == null) {
            return;
        }
        Long limit = budget.limitFor(deployment);
        if (limit == null) {
            return;
        }
        long now = epochMillis.getAsLong();
        long minute = now / 60_000;
        exchange.put(MINUTE, minute);
        long spent;
        try {
            spent = used.used(client.name(), deployment, minute);
        } catch (TokenBudgets.StoreUnavailableException e) {
            throw ProxyException.of(503, "BudgetStoreUnavailable", "The store of token budgets shared by this"
                            + " proxy's replicas cannot be reached, and the proxy is set to refuse requests that need a"
                            + " budget until it can. Retry in a few seconds.")
                    .withHeader("retry-after", "1");
        }
        if (spent >= limit) {
            long retryAfterMs = (minute + 1) * 60_000 - now;
            long retryAfterSeconds = Math.max(1, (retryAfterMs + 999) / 1000);
            // retry-after-ms too, as the 429 when every target is blocked: the openai SDKs prefer it to retry-after.
            throw ProxyException.of(429, "TooManyRequests", "Client '" + client.name() + "' has used its "
                            + limit + " tokens per minute for deployment '" + deployment + "'. Retry after "
                            + retryAfterSeconds + " s, when the next minute starts.")
                    .withHeader("retry-after-ms", Long.toString(retryAfterMs))
                    .withHeader("retry-after", Long.toString(retryAfterSeconds))
                    .withHeader("x-ratelimit-remaining-tokens", "0");
        }
    }

    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        Long minute = exchange.get(MINUTE);
        if (minute != null && usage.totalTokens() > 0) {
            used.add(exchange.client().name(), exchange.deployment(), minute, usage.totalTokens());
        }
    }

    @Override
    public String readinessProblem() {
        return used.problem();
    }

    @Override
    public void close() {
        used.close();
    }
}
