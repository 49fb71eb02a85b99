package io.powerproxy.testing;

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
