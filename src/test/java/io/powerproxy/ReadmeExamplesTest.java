package io.powerproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.affinity.ObjectAffinity;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's configuration examples load: every YAML block with an {@code aoai:} section, plugins included. */
class ReadmeExamplesTest {

    private static final Pattern YAML_BLOCK = Pattern.compile("```yaml\\n(.*?)```", Pattern.DOTALL);
    private static final String CLIENT = "clients:\n  - name: Readme Client\n    key: readme-client-key-0123\n"
            + "    deployments_allowed: gpt-4o\n    max_tokens_per_minute_in_k: 10\n";

    /** The YAML blocks that configure endpoints or a mock; placeholders like {@code <sweden key>} filled in. */
    static List<String> configBlocks() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        List<String> blocks = new ArrayList<>();
        Matcher matcher = YAML_BLOCK.matcher(readme);
        while (matcher.find()) {
            String block = matcher.group(1);
            if (block.startsWith("aoai:") || block.contains("\naoai:")) {
                String filled = block.replaceAll("<[^>\\n]+>", "filled-in-0123456789");
                blocks.add(filled.contains("clients:") ? filled : CLIENT + filled);
            }
        }
        return blocks;
    }

    @Test
    void everyConfigExampleInTheReadmeLoadsWithItsPlugins() throws Exception {
        List<String> blocks = configBlocks();
        assertTrue(blocks.size() >= 2, "the README has its annotated example and the balancing example");
        List<String> problems = new ArrayList<>();
        for (String block : blocks) {
            try {
                ProxyConfig config = ConfigLoader.parse(block);
                PowerProxy.pluginRegistry(Map.of()).createAll(config).forEach(Plugin::close);
                ObjectAffinity.redisSettings(config.aoai().objectAffinity());
            } catch (ConfigException e) {
                problems.add(e.getMessage() + "\nin:\n" + block);
            }
        }
        assertEquals(List.of(), problems);
    }
}
