package io.powerproxy.plugins;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.config.ClientConfig;
import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginSettings;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.UsageRecord.Operation;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Caps the {@code max_tokens} and {@code max_completion_tokens} that chat and completions requests ask for, per
 * client and deployment: a request over the cap is clamped to it, or refused with 400, and one that names no limit can
 * be given the cap.
 *
 * <p>The plugin's own {@code cap}, {@code over_cap} and {@code when_missing} are the defaults; a client's
 * {@code cap_max_tokens} mapping overrides each of them for that client. A cap is one number for every deployment or
 * a map from deployment to number; a deployment missing from a client's map gets the plugin's cap.
 */
public final class CapMaxTokens implements Plugin {

    static final String NAME = "CapMaxTokens";
    /** The client setting that holds a client's own rules. */
    static final String CLIENT_KEY = "cap_max_tokens";
    private static final List<String> FIELDS = List.of("max_tokens", "max_completion_tokens");

    /** What a request that asks for more than the cap gets. */
    enum OverCap {
        CLAMP, REJECT
    }

    /** What a request that names no limit gets: nothing, or the cap in one of the two fields. */
    enum WhenMissing {
        LEAVE, MAX_TOKENS, MAX_COMPLETION_TOKENS
    }

    /** A cap for every deployment, or per deployment; either may be null (no cap at this level). */
    private record Caps(Long everyDeployment, Map<String, Long> perDeployment) {
        static final Caps NONE = new Caps(null, Map.of());

        Long forDeployment(String deployment) {
            return everyDeployment != null ? everyDeployment : deployment == null ? null : perDeployment.get(deployment);
        }
    }

    /** One client's rules, its own settings merged over the plugin's. */
    private record Rules(Caps own, Caps defaults, OverCap overCap, WhenMissing whenMissing) {
        Long capFor(String deployment) {
            Long cap = own.forDeployment(deployment);
            return cap != null ? cap : defaults.forDeployment(deployment);
        }
    }

    private final Map<String, Rules> rulesByClient;
    private final Rules defaults;

    private CapMaxTokens(Map<String, Rules> rulesByClient, Rules defaults) {
        this.rulesByClient = rulesByClient;
        this.defaults = defaults;
    }

    /** The factory that registers this plugin under its name. */
    public static PluginFactory factory() {
        return PluginFactory.of(NAME, CapMaxTokens::create);
    }

    static CapMaxTokens create(PluginContext context) throws ConfigException {
        PluginSettings settings = PluginSettings.of(context);
        Caps defaultCaps = caps(settings);
        OverCap overCap = settings.choice("over_cap", OverCap.CLAMP);
        WhenMissing whenMissing = settings.choice("when_missing", WhenMissing.LEAVE);
        Rules defaults = new Rules(Caps.NONE, defaultCaps, overCap, whenMissing);
        Map<String, Rules> rulesByClient = new HashMap<>();
        for (ClientConfig client : context.clients()) {
            PluginSettings own = settings.client(client).mapping(CLIENT_KEY);
            if (own != null) {
                rulesByClient.put(client.name(), new Rules(caps(own), defaultCaps,
                        own.choice("over_cap", overCap), own.choice("when_missing", whenMissing)));
            }
        }
        settings.throwIfInvalid();
        return new CapMaxTokens(Map.copyOf(rulesByClient), defaults);
    }

    /** The {@code cap} of a mapping: a whole number, or a map from deployment to one; none when missing. */
    private static Caps caps(PluginSettings settings) {
        Object value = settings.value("cap");
        if (value == null) {
            return Caps.NONE;
        }
        if (!(value instanceof Map<?, ?>)) {
            return new Caps(settings.wholeNumber("cap", 0, 1), Map.of());
        }
        PluginSettings perDeployment = settings.mapping("cap");
        Map<String, Long> caps = new LinkedHashMap<>();
        for (String deployment : perDeployment.keys()) {
            caps.put(deployment, perDeployment.wholeNumber(deployment, 0, 1));
        }
        return new Caps(null, Map.copyOf(caps));
    }

    @Override
    public void onClientIdentified(Exchange exchange) {
        Rules rules = rulesByClient.getOrDefault(exchange.client().name(), defaults);
        Long cap = rules.capFor(exchange.deployment());
        Operation operation = Operation.ofPath(exchange.path());
        if (cap == null || (operation != Operation.CHAT && operation != Operation.COMPLETIONS)) {
            return;
        }
        if (!exchange.requestIsJsonObject()) {
            return;
        }
        boolean named = false;
        for (String field : FIELDS) {
            JsonNode asked = exchange.requestJsonField(field);
            if (asked == null || asked.isNull()) {
                continue;
            }
            named = true;
            // Anything but a number is left for Azure to refuse.
            if (asked.isNumber() && asked.doubleValue() > cap) {
                if (rules.overCap() == OverCap.REJECT) {
                    throw ProxyException.of(400, "MaxTokensOverCap", "Client '" + exchange.client().name()
                            + "' may ask deployment '" + exchange.deployment() + "' for at most " + cap + " tokens;"
                            + " this request's " + field + " is " + asked.asText() + ". Send " + field + " of " + cap
                            + " or less.");
                }
                exchange.changeRequest().setBodyField(field, cap);
            }
        }
        if (!named && rules.whenMissing() != WhenMissing.LEAVE) {
            exchange.changeRequest().setBodyField(rules.whenMissing().name().toLowerCase(Locale.ROOT), cap);
        }
    }
}
