package io.powerproxy.plugins;

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
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokens per minute per client and deployment (§7): a client whose budget for the current minute is used up gets
 * 429 with {@code retry-after} to the next minute and {@code x-ratelimit-remaining-tokens}, before anything is sent
 * upstream.
 *
 * <p>Budgets come from each client's {@code max_tokens_per_minute_in_k}: one number for every deployment, or a
 * map from deployment to number. A deployment missing from a client's map is not limited. Requests that name no
 * deployment are not limited. As in the Python original, the check is made before the request and the tokens are
 * counted when its usage is known, so one request may overrun a budget once.
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

    private final Map<ClientConfig, Budget> budgets;
    private final TokenBudgets used;
    private final LongSupplier epochMillis;

    private LimitUsage(Map<ClientConfig, Budget> budgets, TokenBudgets used, LongSupplier epochMillis) {
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
        return new PluginFactory() {
            @Override
            public String name() {
                return NAME;
            }

            @Override
            public Plugin create(PluginContext context) throws ConfigException {
                return LimitUsage.create(context, epochMillis);
            }
        };
    }

    static LimitUsage create(PluginContext context, LongSupplier epochMillis) throws ConfigException {
        List<String> problems = new ArrayList<>();
        Settings.rejectUnknown(context.settings(), Set.of("redis"), problems);
        Map<ClientConfig, Budget> budgets = new IdentityHashMap<>();
        for (ClientConfig client : context.clients()) {
            Budget budget = budget(client, problems);
            if (budget != null) {
                budgets.put(client, budget);
            }
        }
        if (context.settings().settings().containsKey("redis")) {
            LOG.warn("{}.redis: shared budgets through Redis are not available in this build yet;"
                    + " budgets are kept per replica", context.settings().path());
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new LimitUsage(budgets, new LocalTokenBudgets(), epochMillis);
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
        Budget budget = budgets.get(exchange.client());
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
        long spent = used.used(exchange.client().name(), deployment, minute);
        if (spent >= limit) {
            long retryAfterSeconds = Math.max(1, ((minute + 1) * 60_000 - now + 999) / 1000);
            throw ProxyException.of(429, "TooManyRequests", "Client '" + exchange.client().name() + "' has used its "
                            + limit + " tokens per minute for deployment '" + deployment + "'. Retry after "
                            + retryAfterSeconds + " s, when the next minute starts.")
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
