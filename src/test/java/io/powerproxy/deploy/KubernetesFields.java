package io.powerproxy.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An allow-list of Kubernetes object fields, per type, for the kinds deploy/kubernetes/ uses: a subset of the fields
 * of the Kubernetes API reference for v1.31 (apps/v1 Deployment, core/v1 Service, policy/v1 PodDisruptionBudget,
 * autoscaling/v2 HorizontalPodAutoscaler, https://kubernetes.io/docs/reference/kubernetes-api/) and of kustomize's
 * Kustomization (kustomize.config.k8s.io/v1beta1, https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/).
 * A field maps to its type's name, or to {@link #LEAF} for a scalar, a list of scalars or a free-form map (labels).
 */
final class KubernetesFields {

    static final String LEAF = "";

    private static final Map<String, String> KINDS = Map.of(
            "apps/v1 Deployment", "Deployment",
            "v1 Service", "Service",
            "policy/v1 PodDisruptionBudget", "PodDisruptionBudget",
            "autoscaling/v2 HorizontalPodAutoscaler", "HorizontalPodAutoscaler",
            "kustomize.config.k8s.io/v1beta1 Kustomization", "Kustomization");

    private static final Map<String, Map<String, String>> TYPES = Map.ofEntries(
            Map.entry("Kustomization", Map.of("apiVersion", LEAF, "kind", LEAF, "labels", "KustomizeLabel",
                    "resources", LEAF, "secretGenerator", "SecretGenerator", "images", "KustomizeImage",
                    "namespace", LEAF, "namePrefix", LEAF)),
            Map.entry("KustomizeLabel", Map.of("pairs", LEAF, "includeSelectors", LEAF, "includeTemplates", LEAF)),
            Map.entry("SecretGenerator", Map.of("name", LEAF, "files", LEAF, "literals", LEAF, "envs", LEAF,
                    "type", LEAF, "behavior", LEAF)),
            Map.entry("KustomizeImage", Map.of("name", LEAF, "newName", LEAF, "newTag", LEAF, "digest", LEAF)),
            Map.entry("Deployment", object("DeploymentSpec")),
            Map.entry("Service", object("ServiceSpec")),
            Map.entry("PodDisruptionBudget", object("PodDisruptionBudgetSpec")),
            Map.entry("HorizontalPodAutoscaler", object("HorizontalPodAutoscalerSpec")),
            Map.entry("ObjectMeta", Map.of("name", LEAF, "namespace", LEAF, "labels", LEAF, "annotations", LEAF)),
            Map.entry("LabelSelector", Map.of("matchLabels", LEAF, "matchExpressions", LEAF)),
            Map.entry("DeploymentSpec", Map.of("replicas", LEAF, "selector", "LabelSelector",
                    "strategy", "DeploymentStrategy", "template", "PodTemplateSpec", "minReadySeconds", LEAF,
                    "revisionHistoryLimit", LEAF, "progressDeadlineSeconds", LEAF)),
            Map.entry("DeploymentStrategy", Map.of("type", LEAF, "rollingUpdate", "RollingUpdateDeployment")),
            Map.entry("RollingUpdateDeployment", Map.of("maxUnavailable", LEAF, "maxSurge", LEAF)),
            Map.entry("PodTemplateSpec", Map.of("metadata", "ObjectMeta", "spec", "PodSpec")),
            Map.entry("PodSpec", Map.of("terminationGracePeriodSeconds", LEAF,
                    "automountServiceAccountToken", LEAF, "securityContext", "PodSecurityContext",
                    "containers", "Container", "volumes", "Volume", "serviceAccountName", LEAF,
                    "nodeSelector", LEAF, "priorityClassName", LEAF)),
            Map.entry("PodSecurityContext", Map.of("runAsNonRoot", LEAF, "runAsUser", LEAF, "runAsGroup", LEAF,
                    "fsGroup", LEAF, "supplementalGroups", LEAF, "seccompProfile", "SeccompProfile")),
            Map.entry("SeccompProfile", Map.of("type", LEAF, "localhostProfile", LEAF)),
            Map.entry("Container", Map.ofEntries(Map.entry("name", LEAF), Map.entry("image", LEAF),
                    Map.entry("imagePullPolicy", LEAF), Map.entry("command", LEAF), Map.entry("args", LEAF),
                    Map.entry("ports", "ContainerPort"), Map.entry("env", "EnvVar"),
                    Map.entry("resources", "ResourceRequirements"), Map.entry("startupProbe", "Probe"),
                    Map.entry("livenessProbe", "Probe"), Map.entry("readinessProbe", "Probe"),
                    Map.entry("lifecycle", "Lifecycle"), Map.entry("securityContext", "SecurityContext"),
                    Map.entry("volumeMounts", "VolumeMount"))),
            Map.entry("ContainerPort", Map.of("name", LEAF, "containerPort", LEAF, "protocol", LEAF)),
            Map.entry("EnvVar", Map.of("name", LEAF, "value", LEAF)),
            Map.entry("ResourceRequirements", Map.of("requests", LEAF, "limits", LEAF)),
            Map.entry("Probe", Map.of("httpGet", "HTTPGetAction", "initialDelaySeconds", LEAF, "periodSeconds", LEAF,
                    "timeoutSeconds", LEAF, "successThreshold", LEAF, "failureThreshold", LEAF)),
            Map.entry("HTTPGetAction", Map.of("path", LEAF, "port", LEAF, "scheme", LEAF, "host", LEAF)),
            Map.entry("Lifecycle", Map.of("preStop", "LifecycleHandler", "postStart", "LifecycleHandler")),
            Map.entry("LifecycleHandler", Map.of("httpGet", "HTTPGetAction", "sleep", "SleepAction")),
            Map.entry("SleepAction", Map.of("seconds", LEAF)),
            Map.entry("SecurityContext", Map.of("allowPrivilegeEscalation", LEAF, "readOnlyRootFilesystem", LEAF,
                    "capabilities", "Capabilities", "runAsNonRoot", LEAF, "runAsUser", LEAF, "runAsGroup", LEAF,
                    "privileged", LEAF, "seccompProfile", "SeccompProfile")),
            Map.entry("Capabilities", Map.of("add", LEAF, "drop", LEAF)),
            Map.entry("VolumeMount", Map.of("name", LEAF, "mountPath", LEAF, "readOnly", LEAF, "subPath", LEAF)),
            Map.entry("Volume", Map.of("name", LEAF, "secret", "SecretVolumeSource", "emptyDir", "EmptyDirVolumeSource")),
            Map.entry("SecretVolumeSource", Map.of("secretName", LEAF, "defaultMode", LEAF, "optional", LEAF)),
            Map.entry("EmptyDirVolumeSource", Map.of("medium", LEAF, "sizeLimit", LEAF)),
            Map.entry("ServiceSpec", Map.of("type", LEAF, "selector", LEAF, "ports", "ServicePort",
                    "sessionAffinity", LEAF, "internalTrafficPolicy", LEAF)),
            Map.entry("ServicePort", Map.of("name", LEAF, "port", LEAF, "targetPort", LEAF, "protocol", LEAF,
                    "appProtocol", LEAF)),
            Map.entry("PodDisruptionBudgetSpec", Map.of("minAvailable", LEAF, "maxUnavailable", LEAF,
                    "selector", "LabelSelector", "unhealthyPodEvictionPolicy", LEAF)),
            Map.entry("HorizontalPodAutoscalerSpec", Map.of("scaleTargetRef", "CrossVersionObjectReference",
                    "minReplicas", LEAF, "maxReplicas", LEAF, "metrics", "MetricSpec",
                    "behavior", "HorizontalPodAutoscalerBehavior")),
            Map.entry("CrossVersionObjectReference", Map.of("apiVersion", LEAF, "kind", LEAF, "name", LEAF)),
            Map.entry("MetricSpec", Map.of("type", LEAF, "resource", "ResourceMetricSource")),
            Map.entry("ResourceMetricSource", Map.of("name", LEAF, "target", "MetricTarget")),
            Map.entry("MetricTarget", Map.of("type", LEAF, "averageUtilization", LEAF, "averageValue", LEAF,
                    "value", LEAF)),
            Map.entry("HorizontalPodAutoscalerBehavior", Map.of("scaleUp", "HPAScalingRules",
                    "scaleDown", "HPAScalingRules")),
            Map.entry("HPAScalingRules", Map.of("stabilizationWindowSeconds", LEAF, "selectPolicy", LEAF,
                    "policies", LEAF)));

    private KubernetesFields() {
    }

    private static Map<String, String> object(String specType) {
        return Map.of("apiVersion", LEAF, "kind", LEAF, "metadata", "ObjectMeta", "spec", specType);
    }

    /** The problems of one YAML document, each starting with {@code file}; empty when every field is known. */
    static List<String> check(String file, Object document) {
        List<String> problems = new ArrayList<>();
        if (!(document instanceof Map<?, ?> root)) {
            return List.of(file + ": not a mapping");
        }
        String kind = root.get("apiVersion") + " " + root.get("kind");
        String type = KINDS.get(kind);
        if (type == null) {
            return List.of(file + ": apiVersion " + root.get("apiVersion") + " kind " + root.get("kind")
                    + " is not one this check knows");
        }
        walk(file, "", type, root, problems);
        return problems;
    }

    private static void walk(String file, String where, String type, Object node, List<String> problems) {
        if (node instanceof List<?> items) {
            for (int i = 0; i < items.size(); i++) {
                walk(file, where + "[" + i + "]", type, items.get(i), problems);
            }
            return;
        }
        if (!(node instanceof Map<?, ?> fields)) {
            problems.add(file + ": " + where + " should be a " + type + " mapping, is " + node);
            return;
        }
        Map<String, String> known = TYPES.get(type);
        for (Map.Entry<?, ?> field : fields.entrySet()) {
            String name = String.valueOf(field.getKey());
            String at = where.isEmpty() ? name : where + "." + name;
            String child = known.get(name);
            if (child == null) {
                problems.add(file + ": " + at + " is not a field of " + type);
            } else if (!child.equals(LEAF)) {
                walk(file, at, child, field.getValue(), problems);
            }
        }
    }
}
