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

    /**
     * Two clients, the given plugins (YAML list items) and the mock upstream, which answers every request after
     * {@code msToWait} with a chat completion ({@code chatcmpl-1}, 8 prompt and 2 completion tokens): the proxy of the
     * usage-sink tests, which need answers with usage but no upstream of their own.
     */
    public static String pluginsOnMock(String plugins, int msToWait) {
        return """
                clients:
                  - name: Team A
                    key: %s
                  - name: Team B
                    key: %s
                plugins:
                %s
                aoai:
                  mock_response:
                    ms_to_wait_before_return: %d
                    json: {
                      "id": "chatcmpl-1", "object": "chat.completion", "created": 1732500000,
                      "model": "gpt-4o-2024-08-06",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": "Hello."}}],
                      "usage": {"completion_tokens": 2, "prompt_tokens": 8, "total_tokens": 10}
                    }
                """.formatted(TEAM_A_KEY, TEAM_B_KEY, plugins.indent(2).stripTrailing(), msToWait);
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
