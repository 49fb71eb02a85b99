package com.example.powerproxy;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.usage.UsageRecord;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/** Refuses requests that do not say which end user they are for, and counts the tokens it let through. */
public final class RequireUserHeader implements Plugin {

    // Per-request data lives in the Exchange, under a typed key; never in a field of the plugin.
    private static final Exchange.Key<String> USER = Exchange.Key.of("RequireUserHeader.user");

    private final String header;
    private final LongAdder tokens = new LongAdder();

    private RequireUserHeader(String header) {
        this.header = header;
    }

    @Override
    public void onClientIdentified(Exchange exchange) {
        String user = exchange.requestHeader(header);
        if (user == null || user.isBlank()) {
            throw ProxyException.of(400, "MissingUserHeader",
                    "Client '" + exchange.client().name() + "': send the end user's id in the '" + header + "' header.");
        }
        exchange.put(USER, user);
    }

    @Override
    public void onUsage(Exchange exchange, UsageRecord usage) {
        tokens.add(usage.totalTokens());
    }

    /** Registered in META-INF/services/io.powerproxy.pipeline.PluginFactory. */
    public static final class Factory implements PluginFactory {
        @Override
        public String name() {
            return "RequireUserHeader";
        }

        @Override
        public Plugin create(PluginContext context) throws ConfigException {
            Object header = context.settings().settings().getOrDefault("header", "x-user-id");
            if (!(header instanceof String name) || name.isBlank()) {
                throw new ConfigException(List.of(context.settings().path() + ".header must be a header name"));
            }
            return new RequireUserHeader(name);
        }
    }
}
