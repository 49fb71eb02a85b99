package com.example.powerproxy;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginSettings;
import io.powerproxy.pipeline.ProxyException;

/** Refuses requests that do not name their end user in a header, and passes the user on in the body's "user". */
public final class RequireUserHeader implements Plugin {

    private final String header;

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
        if (exchange.requestJson() != null) {
            exchange.changeRequest().setBodyField("user", user);
        }
    }

    /** Registered in META-INF/services/io.powerproxy.pipeline.PluginFactory. */
    public static final class Factory implements PluginFactory {
        @Override
        public String name() {
            return "RequireUserHeader";
        }

        @Override
        public Plugin create(PluginContext context) throws ConfigException {
            PluginSettings settings = PluginSettings.of(context);
            String header = settings.text("header", "x-user-id");
            settings.throwIfInvalid();
            return new RequireUserHeader(header);
        }
    }
}
