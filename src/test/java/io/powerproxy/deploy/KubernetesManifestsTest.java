package io.powerproxy.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The kustomize base under deploy/kubernetes/: every file parses, names only fields the Kubernetes API defines, and
 * the parts fit together (Secret name, probes, security context, termination grace).
 */
class KubernetesManifestsTest {

    private static final Path BASE = Path.of("deploy/kubernetes");

    @Test
    void everyManifestParsesAndNamesOnlyFieldsTheKubernetesApiDefines() throws IOException {
        List<String> problems = new ArrayList<>();
        List<Path> files = manifests();
        assertEquals(5, files.size(), "manifests found: " + files);
        for (Path file : files) {
            for (Object document : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(Files.readString(file))) {
                problems.addAll(KubernetesFields.check(file.getFileName().toString(), document));
            }
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void aMisspelledFieldOrAnUnknownKindIsReported() {
        Object misspelled = load("""
                apiVersion: apps/v1
                kind: Deployment
                spec:
                  template:
                    spec:
                      containers:
                        - name: x
                          securityContext:
                            readOnlyRootFileSystem: true
                """);
        assertEquals(List.of("d.yaml: spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem is not a"
                + " field of SecurityContext"), KubernetesFields.check("d.yaml", misspelled));
        assertEquals(List.of("x.yaml: apiVersion apps/v1beta1 kind Deployment is not one this check knows"),
                KubernetesFields.check("x.yaml", load("{apiVersion: apps/v1beta1, kind: Deployment}")));
    }

    @Test
    void theKustomizationListsEveryManifestAndGeneratesTheSecretTheDeploymentMounts() throws IOException {
        Map<String, Object> kustomization = map(load(Files.readString(BASE.resolve("kustomization.yaml"))));
        List<String> listed = strings(kustomization.get("resources"));
        List<String> present = manifests().stream().map(p -> p.getFileName().toString())
                .filter(name -> !name.equals("kustomization.yaml")).sorted().toList();
        assertEquals(present, listed.stream().sorted().toList());
        Map<String, Object> generator = map(list(kustomization.get("secretGenerator")).get(0));
        List<Object> volumes = list(path(deployment(), "spec", "template", "spec", "volumes"));
        Object secretName = volumes.stream().map(KubernetesManifestsTest::map).filter(v -> v.containsKey("secret"))
                .map(v -> map(v.get("secret")).get("secretName")).findFirst().orElseThrow();
        assertEquals(generator.get("name"), secretName);
        assertEquals(List.of("config.yaml"), strings(generator.get("files")));
        assertEquals(List.of("--config-file", "/etc/powerproxy/config.yaml"), strings(container().get("args")));
    }

    @Test
    void theConfigTheSecretIsMadeFromIsAValidProxyConfig() throws Exception {
        ConfigLoader.parse(Files.readString(BASE.resolve("config.yaml")));
    }

    @Test
    void theProbesAskTheProxysHealthEndpointsOnTheNamedPort() {
        Map<String, Object> container = container();
        assertEquals("/powerproxy/health/liveness", path(container, "livenessProbe", "httpGet", "path"));
        assertEquals("/powerproxy/health/liveness", path(container, "startupProbe", "httpGet", "path"));
        assertEquals("/powerproxy/health/readiness", path(container, "readinessProbe", "httpGet", "path"));
        assertEquals("http", path(container, "readinessProbe", "httpGet", "port"));
        assertEquals(8080, path(list(container.get("ports")).get(0), "containerPort"));
    }

    @Test
    void thePodRunsAsTheImagesNonRootUserOnAReadOnlyRootWithoutCapabilities() {
        Map<String, Object> pod = map(path(deployment(), "spec", "template", "spec"));
        assertEquals(true, path(pod, "securityContext", "runAsNonRoot"));
        assertEquals(10001, path(pod, "securityContext", "runAsUser"));
        assertEquals("RuntimeDefault", path(pod, "securityContext", "seccompProfile", "type"));
        Map<String, Object> container = container();
        assertEquals(true, path(container, "securityContext", "readOnlyRootFilesystem"));
        assertEquals(false, path(container, "securityContext", "allowPrivilegeEscalation"));
        assertEquals(List.of("ALL"), path(container, "securityContext", "capabilities", "drop"));
        List<Object> mounts = list(container.get("volumeMounts"));
        List<Object> paths = mounts.stream().map(m -> map(m).get("mountPath")).toList();
        assertTrue(paths.containsAll(List.of("/tmp", "/app/logs")), "writable folders mounted: " + paths);
        assertTrue(map(path(container, "resources")).keySet().containsAll(List.of("requests", "limits")));
    }

    @Test
    void theTerminationGraceCoversThePreStopSleepTheProxysGraceAndAMargin() {
        int grace = (Integer) path(deployment(), "spec", "template", "spec", "terminationGracePeriodSeconds");
        int preStop = (Integer) path(container(), "lifecycle", "preStop", "sleep", "seconds");
        // The proxy waits up to 30 s for requests in flight (25 s with --shutdown-grace's default), then
        // closes its plugins; 5 s of margin for that.
        int proxyGrace = 30;
        assertTrue(grace >= preStop + proxyGrace + 5,
                "terminationGracePeriodSeconds " + grace + " < preStop " + preStop + " + " + proxyGrace + " + 5");
    }

    private static List<Path> manifests() throws IOException {
        try (Stream<Path> files = Files.list(BASE)) {
            return files.filter(p -> p.toString().endsWith(".yaml"))
                    .filter(p -> !p.getFileName().toString().equals("config.yaml")).sorted().toList();
        }
    }

    private static Map<String, Object> deployment() {
        try {
            return map(load(Files.readString(BASE.resolve("deployment.yaml"))));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static Map<String, Object> container() {
        return map(list(path(deployment(), "spec", "template", "spec", "containers")).get(0));
    }

    private static Object load(String yaml) {
        return new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
    }

    private static Object path(Object node, String... keys) {
        Object current = node;
        for (String key : keys) {
            current = map(current).get(key);
        }
        return current;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object node) {
        assertTrue(node instanceof Map, "expected a mapping, got " + node);
        return (Map<String, Object>) node;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object node) {
        assertTrue(node instanceof List, "expected a list, got " + node);
        return (List<Object>) node;
    }

    private static List<String> strings(Object node) {
        return list(node).stream().map(String::valueOf).toList();
    }
}
