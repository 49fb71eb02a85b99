package io.powerproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The one line a config reload logs: what changed, by name, and never a value. */
class ConfigDiffTest {

    private static final String BASE = """
            clients:
              - name: Team A
                key: team-a-key-0123456789
                max_tokens_per_minute_in_k: 10
            plugins:
              - name: LimitUsage
              - name: LogUsageToCsvFile
                log_dir: /var/log/a
            aoai:
              endpoints:
                - name: Sweden
                  url: https://sweden.example.com
                  key: sweden-key-0123456789
                  virtual_deployments:
                    - name: gpt-4o
                      standins: [{name: gpt-4o-ptu}]
            """;

    @Test
    void aFileWhoseCommentsAndLayoutChangedChangesNothing() throws ConfigException {
        ConfigDiff diff = diff(BASE, "# a comment\n" + BASE.replace("standins: [{name: gpt-4o-ptu}]",
                "standins:\n              - name: gpt-4o-ptu"));
        assertTrue(diff.isEmpty(), diff.describe());
    }

    @Test
    void pluginsAndDeploymentsAreNamedAddedRemovedOrChanged() throws ConfigException {
        String next = BASE.replace("log_dir: /var/log/a", "log_dir: /var/log/b")
                .replace("  - name: LimitUsage\n", "  - name: LogUsageToConsole\n")
                .replace("- name: gpt-4o\n", "- name: gpt-4o-mini\n");
        assertEquals("endpoints changed [Sweden (virtual_deployments)]; deployments added [gpt-4o-mini];"
                + " deployments removed [gpt-4o]; plugins added [LogUsageToConsole]; plugins removed [LimitUsage];"
                + " plugins changed [LogUsageToCsvFile]", diff(BASE, next).describe());
    }

    @Test
    void changedClientsAndEndpointsNameTheirSettingsButNoValue() throws ConfigException {
        String next = BASE.replace("team-a-key-0123456789", "team-a-key-rotated-4242")
                .replace("max_tokens_per_minute_in_k: 10", "max_tokens_per_minute_in_k: 20")
                .replace("sweden-key-0123456789", "sweden-key-rotated-4343")
                .replace("url: https://sweden.example.com", "url: https://sweden.example.com\n      priority: 3");
        assertEquals("clients changed [Team A (key, max_tokens_per_minute_in_k)]; endpoints changed"
                + " [Sweden (key, priority)]", diff(BASE, next).describe());
    }

    @Test
    void otherSettingsAreNamedToo() throws ConfigException {
        String next = BASE.replace("aoai:\n", "user_assigned_managed_identity_client_id: 1234\naoai:\n"
                + "  forward_http_header_only_if_name_matches: '^x-'\n");
        assertEquals("changed [aoai.forward_http_header_only_if_name_matches, user_assigned_managed_identity_client_id]",
                diff(BASE, next).describe());
    }

    private static ConfigDiff diff(String running, String next) throws ConfigException {
        return ConfigDiff.between(ConfigLoader.parse(running), ConfigLoader.parse(next));
    }
}
