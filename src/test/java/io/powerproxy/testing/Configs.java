package io.powerproxy.testing;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.EndpointConfig;
import java.util.List;

/** YAML configs for end-to-end tests. */
public final class Configs {

    /** The key of the first test client. */
    public static final String TEAM_A_KEY = "team-a-key-0123456789";
    /** The key of the second test client. */
    public static final String TEAM_B_KEY = "team-b-key-9876543210";
    /** The key the proxy sends to test endpoints. */
    public static final String ENDPOINT_KEY = "endpoint-secret-key-abcdef";

    private Configs() {
    }

    /** Two clients, and the given {@code aoai:} section (indented by two spaces, without the {@code aoai:} line). */
    public static String withAoai(String aoaiSection) {
        return """
                clients:
                  - name: Team A
                    key: %s
                  - name: Team B
                    key: %s
                aoai:
                %s
                """.formatted(TEAM_A_KEY, TEAM_B_KEY, aoaiSection.indent(2).stripTrailing());
    }

    /** The endpoints of an {@code aoai.endpoints} list (YAML list items), parsed and validated as the proxy does. */
    public static List<EndpointConfig> endpoints(String endpointsYaml) throws ConfigException {
        return ConfigLoader.parse("""
                clients:
                  - name: A
                    key: a-key-0123456789
                aoai:
                  endpoints:
                %s
                """.formatted(endpointsYaml.indent(4).stripTrailing())).aoai().endpoints();
    }

    /** One endpoint at the given base URL, with the endpoint key, serving any deployment as asked. */
    public static String oneEndpoint(String url) {
        return withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: %s
                """.formatted(url, ENDPOINT_KEY));
    }
}
