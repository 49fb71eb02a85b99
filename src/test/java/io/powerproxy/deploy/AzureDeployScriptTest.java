package io.powerproxy.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/azure/deploy.sh and its export/import scripts, run by bash against the stand-in {@code az} of
 * deploy/azure/test/, which records every call and keeps what was created: the order, the arguments, and that a
 * second run creates nothing.
 */
class AzureDeployScriptTest {

    private static final Path AZURE = Path.of("deploy/azure").toAbsolutePath();
    private static final Path CONFIG = Path.of("src/test/resources/azure/config.azure.yaml").toAbsolutePath();
    private static final String PLACEHOLDER = "<will be set by deployment script>";
    private static final String VAULT = "abcpowerproxyaoai";
    private static final String URL = "https://powerproxyaoai.happyhill-1a2b3c4d.swedencentral.azurecontainerapps.io";

    @TempDir
    Path dir;
    private Path log;
    private Path state;

    @BeforeEach
    void setUp() {
        log = dir.resolve("az.log");
        state = dir.resolve("state");
    }

    @Test
    void aFirstRunCreatesWhatTheOriginalCreatesInThisOrder() throws Exception {
        Run run = run("deploy.sh", CONFIG.toString());
        assertEquals(0, run.exitCode(), run.stderr());
        List<String> changes = changes(calls());
        assertEquals(List.of(
                "account set", "provider register Microsoft.App", "provider register Microsoft.OperationalInsights",
                "provider register Microsoft.Insights", "provider register Microsoft.ContainerRegistry",
                "provider register Microsoft.KeyVault", "provider register Microsoft.Cache",
                "provider register Microsoft.ManagedIdentity", "extension add", "group create", "identity create",
                "keyvault create", "keyvault set-policy", "redis create", "monitor log-analytics workspace create",
                "rest", "monitor data-collection endpoint create", "deployment group create",
                "role assignment create Monitoring Metrics Publisher", "acr create", "role assignment create AcrPull",
                "acr build", "keyvault secret set", "containerapp env create", "containerapp create"), changes);
        assertTrue(run.stdout().contains("PowerProxy runs at " + URL + "\n"), run.stdout());
    }

    @Test
    void theContainerAppGetsTheImageAndReadsTheConfigFromTheKeyVaultSecretWithTheIdentity() throws Exception {
        assertEquals(0, run("deploy.sh", CONFIG.toString()).exitCode());
        String identity = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/powerproxy-test/providers"
                + "/Microsoft.ManagedIdentity/userAssignedIdentities/abcpowerproxyaoai";
        String create = call("az containerapp create ");
        for (String expected : List.of("--image abcpowerproxyaoai.azurecr.io/powerproxy:test1",
                "--user-assigned " + identity, "--registry-identity " + identity,
                "--secrets config-string=keyvaultref:https://abcpowerproxyaoai.vault.azure.net/secrets/config-string"
                        + ",identityref:" + identity,
                "--env-vars POWERPROXY_CONFIG_STRING=secretref:config-string", "--target-port 8080",
                "--ingress external")) {
            assertTrue(create.contains(expected), "missing " + expected + " in " + create);
        }
        assertTrue(call("az acr build ").contains("--image powerproxy:test1 --file " + AZURE.resolve("../../Dockerfile")
                .normalize()));
        assertTrue(call("az deployment group create ").contains("--template-file "
                + AZURE.resolve("../log-analytics/dcr.template.json").normalize()));
        assertTrue(call("az role assignment create ").contains("--assignee-object-id 11111111-2222-3333-4444-555555555555"));
    }

    @Test
    void theStoredConfigHasEveryPlaceholderFilledWithWhatWasCreated() throws Exception {
        assertEquals(0, run("deploy.sh", CONFIG.toString()).exitCode());
        String stored = storedConfig();
        assertFalse(stored.contains(PLACEHOLDER), stored);
        for (String expected : List.of(
                "user_assigned_managed_identity_client_id: \"66666666-7777-8888-9999-000000000000\"",
                "redis_host: \"abcpowerproxyaoai.redis.cache.windows.net\"",
                "redis_password: \"c3R1Yi1yZWRpcy1rZXk+LzAxMjM0NTY3ODk=\"",
                "log_ingestion_endpoint: \"https://abcpowerproxyaoai-ab12.swedencentral-1.ingest.monitor.azure.com\"",
                "data_collection_rule_id: \"dcr-00112233445566778899aabbccddeeff\"")) {
            assertTrue(stored.contains(expected), "missing " + expected + " in\n" + stored);
        }
        ConfigLoader.parse(stored);
    }

    @Test
    void aSecondRunCreatesNothingNewAndPrintsTheSameUrl() throws Exception {
        assertEquals(0, run("deploy.sh", CONFIG.toString()).exitCode());
        int firstRunCalls = calls().size();
        Run second = run("deploy.sh", CONFIG.toString());
        assertEquals(0, second.exitCode(), second.stderr());
        List<String> secondRun = calls().subList(firstRunCalls, calls().size());
        // set-policy is a PUT of the same policy; account set selects the subscription.
        assertEquals(List.of("account set", "keyvault set-policy"), changes(secondRun));
        assertTrue(second.stdout().contains("PowerProxy runs at " + URL + "\n"), second.stdout());
    }

    @Test
    void aChangedConfigIsStoredAndStartsANewRevisionAndANewImageUpdatesTheApp() throws Exception {
        assertEquals(0, run("deploy.sh", CONFIG.toString()).exitCode());
        Path changed = dir.resolve("changed.yaml");
        Files.writeString(changed, Files.readString(CONFIG).replace("team-1-key-0123456789", "team-1-key-abcdefghij"));
        int before = calls().size();
        assertEquals(0, run("deploy.sh", changed.toString()).exitCode());
        assertEquals(List.of("account set", "keyvault set-policy", "keyvault secret set", "containerapp revision copy"),
                changes(calls().subList(before, calls().size())));
        assertTrue(storedConfig().contains("team-1-key-abcdefghij"));

        before = calls().size();
        assertEquals(0, run(Map.of("IMAGE_TAG", "test2"), "deploy.sh", changed.toString()).exitCode());
        assertEquals(List.of("account set", "keyvault set-policy", "acr build", "containerapp update"),
                changes(calls().subList(before, calls().size())));
        assertTrue(call("az containerapp update ").contains("--image abcpowerproxyaoai.azurecr.io/powerproxy:test2"));
    }

    @Test
    void aConfigWithoutResourceGroupOrWithAnUnusablePrefixIsRefusedBeforeAnyAzCall() throws Exception {
        Path noGroup = dir.resolve("no-group.yaml");
        Files.writeString(noGroup, Files.readString(CONFIG).replace("resource_group: powerproxy-test\n", ""));
        Run run = run("deploy.sh", noGroup.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("has no top-level resource_group"), run.stderr());

        Path badPrefix = dir.resolve("bad-prefix.yaml");
        Files.writeString(badPrefix, Files.readString(CONFIG).replace("unique_prefix: abc", "unique_prefix: ABC-1"));
        run = run("deploy.sh", badPrefix.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("unique_prefix must be 1 to 10 lower-case letters or digits"), run.stderr());

        run = run("deploy.sh", dir.resolve("missing.yaml").toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("does not exist"), run.stderr());
        assertFalse(Files.exists(log), "az was called");
    }

    @Test
    void aPlaceholderUnderAKeyTheScriptDoesNotFillStopsItBeforeTheConfigIsStored() throws Exception {
        Path config = dir.resolve("unknown-placeholder.yaml");
        Files.writeString(config, Files.readString(CONFIG) + "    key: " + PLACEHOLDER + "\n");
        Run run = run("deploy.sh", config.toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("under a key this script does not fill"), run.stderr());
        assertTrue(calls().stream().noneMatch(c -> c.startsWith("az keyvault secret set")));
    }

    @Test
    void exportWritesTheDeployedConfigAndImportStoresAFileAndStartsANewRevision() throws Exception {
        assertEquals(0, run("deploy.sh", CONFIG.toString()).exitCode());
        Path exported = dir.resolve("exported.yaml");
        assertEquals(0, run("export-config.sh", VAULT, exported.toString()).exitCode());
        assertEquals(storedConfig().strip(), Files.readString(exported).strip());

        Files.writeString(exported, Files.readString(exported).replace("Team 1", "Team One"));
        int before = calls().size();
        Run run = run("import-config.sh", VAULT, exported.toString(), "powerproxy-test");
        assertEquals(0, run.exitCode(), run.stderr());
        assertEquals(List.of("keyvault secret set", "containerapp revision copy"),
                changes(calls().subList(before, calls().size())));
        assertTrue(storedConfig().contains("Team One"));
    }

    @Test
    void importRefusesAFileWithPlaceholdersAndExportSaysWhenTheSecretIsMissing() throws Exception {
        Run run = run("import-config.sh", VAULT, CONFIG.toString(), "powerproxy-test");
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("still has <will be set by deployment script> values"), run.stderr());
        run = run("export-config.sh", "novault", dir.resolve("x.yaml").toString());
        assertEquals(1, run.exitCode());
        assertTrue(run.stderr().contains("cannot read secret config-string from Key Vault 'novault'"), run.stderr());
    }

    private record Run(int exitCode, String stdout, String stderr) {
    }

    private Run run(String script, String... args) throws Exception {
        return run(Map.of(), script, args);
    }

    private Run run(Map<String, String> env, String script, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", AZURE.resolve(script).toString()));
        command.addAll(Arrays.asList(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(dir.resolve("out").toFile()).redirectError(dir.resolve("err").toFile());
        builder.environment().put("PATH", AZURE.resolve("test") + ":" + System.getenv("PATH"));
        builder.environment().put("AZ_STUB_LOG", log.toString());
        builder.environment().put("AZ_STUB_STATE", state.toString());
        builder.environment().put("IMAGE_TAG", "test1");
        builder.environment().putAll(env);
        Process process = builder.start();
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "the script did not end within 120 s");
        return new Run(process.exitValue(), Files.readString(dir.resolve("out")), Files.readString(dir.resolve("err")));
    }

    private List<String> calls() throws IOException {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    private String call(String prefix) throws IOException {
        List<String> matching = calls().stream().filter(c -> c.startsWith(prefix)).toList();
        assertFalse(matching.isEmpty(), "no call starting with " + prefix);
        // The stand-in logs each argument as printf %q does (a backslash before a space, comma, parenthesis...).
        return matching.getLast().replaceAll("\\\\(.)", "$1");
    }

    /** The calls that change something in Azure, as their command words (plus what tells them apart). */
    private static List<String> changes(List<String> calls) {
        List<String> changes = new ArrayList<>();
        for (String call : calls) {
            String[] words = call.replace("\\ ", "\u0000").split(" ");
            List<String> command = new ArrayList<>();
            for (int i = 1; i < words.length && !words[i].startsWith("--"); i++) {
                command.add(words[i]);
            }
            String verb = String.join(" ", command);
            if (verb.endsWith(" show") || verb.endsWith(" list") || verb.endsWith("list-deleted")
                    || verb.endsWith("list-keys") || verb.endsWith("get-shared-keys")) {
                continue;
            }
            if (verb.equals("provider register")) {
                verb += " " + option(words, "--namespace");
            } else if (verb.equals("role assignment create")) {
                verb += " " + option(words, "--role").replace('\u0000', ' ');
            }
            changes.add(verb);
        }
        return changes;
    }

    private static String option(String[] words, String name) {
        for (int i = 0; i < words.length - 1; i++) {
            if (words[i].equals(name)) {
                return words[i + 1];
            }
        }
        throw new AssertionError("no " + name + " in " + String.join(" ", words));
    }

    private String storedConfig() throws IOException {
        return Files.readString(state.resolve("secret").resolve(VAULT).resolve("config-string"));
    }
}
