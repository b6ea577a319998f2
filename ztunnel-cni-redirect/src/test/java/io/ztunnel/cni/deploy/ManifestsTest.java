package io.ztunnel.cni.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The manifests under {@code deploy/}: every document of every file parses into a typed fabric8
 * object with no field the model does not know (a typo such as {@code readOnlyRootFileSystem} would
 * otherwise be silently dropped by the API server), every kustomization names files that exist,
 * and the security-relevant fields are what Istio's charts set.
 */
class ManifestsTest {
    private static final Path DEPLOY = Path.of("..", "deploy").toAbsolutePath().normalize();
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String IMAGE = "ghcr.io/ztunnel-java/ztunnel-java";

    private static final List<HasMetadata> objects = new ArrayList<>();

    @BeforeAll
    static void parseEverything() throws IOException {
        try (Stream<Path> files = Files.walk(DEPLOY)) {
            for (Path f :
                    files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                if (f.getFileName().toString().equals("kustomization.yaml")) {
                    continue;
                }
                for (String doc : Pattern.compile("(?m)^---\\s*$").split(Files.readString(f))) {
                    if (doc.lines().allMatch(l -> l.isBlank() || l.strip().startsWith("#"))) {
                        continue;
                    }
                    Object o = SERIALIZATION.unmarshal(doc);
                    if (!(o instanceof HasMetadata h) || o instanceof GenericKubernetesResource) {
                        fail(DEPLOY.relativize(f) + ": not a known Kubernetes kind: " + o);
                        return;
                    }
                    List<String> unknown = new ArrayList<>();
                    unknownFields(o, h.getKind() + "/" + h.getMetadata().getName(), unknown, new IdentityHashMap<>());
                    assertThat(unknown)
                            .as(DEPLOY.relativize(f) + ": fields the Kubernetes model does not know")
                            .isEmpty();
                    objects.add(h);
                }
            }
        }
    }

    /** Walks the model's getters; any non-empty additionalProperties is a field the model lacks. */
    private static void unknownFields(Object o, String path, List<String> out, Map<Object, Boolean> seen) {
        if (o == null || seen.put(o, Boolean.TRUE) != null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                unknownFields(e, path + "[" + i++ + "]", out, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> unknownFields(v, path + "." + k, out, seen));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
            return;
        }
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0
                    || Modifier.isStatic(g.getModifiers())
                    || !g.getName().startsWith("get")
                    || g.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v;
            try {
                v = g.invoke(o);
            } catch (ReflectiveOperationException e) {
                continue;
            }
            if (g.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> m && !m.isEmpty()) {
                    out.add(path + ": " + m.keySet());
                }
                continue;
            }
            unknownFields(v, path + "." + g.getName().substring(3), out, seen);
        }
    }

    private static <T extends HasMetadata> T find(Class<T> kind, String name) {
        return objects.stream()
                .filter(kind::isInstance)
                .map(kind::cast)
                .filter(o -> o.getMetadata().getName().equals(name))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind.getSimpleName() + " " + name + " in deploy/"));
    }

    private static Map<String, EnvVar> env(Container c) {
        Map<String, EnvVar> m = new LinkedHashMap<>();
        c.getEnv().forEach(e -> m.put(e.getName(), e));
        return m;
    }

    /** The variable {@code name}, which the container must set. */
    private static EnvVar variable(Map<String, EnvVar> env, String name) {
        EnvVar variable = env.get(name);
        if (variable == null) {
            throw new AssertionError("no variable " + name + " among " + env.keySet());
        }
        return variable;
    }

    private static Map<String, String> mounts(Container c) {
        Map<String, String> m = new LinkedHashMap<>();
        for (VolumeMount vm : c.getVolumeMounts()) {
            m.put(vm.getMountPath(), vm.getName());
        }
        return m;
    }

    private static Volume volume(PodSpec spec, String name) {
        return spec.getVolumes().stream()
                .filter(v -> v.getName().equals(name))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void everyKustomizationNamesFilesThatExistAndTheOverlayKeepsOnlyTheDaemon() throws IOException {
        try (Stream<Path> files = Files.walk(DEPLOY)) {
            for (Path k : files.filter(p -> p.getFileName().toString().equals("kustomization.yaml"))
                    .toList()) {
                Map<?, ?> doc = YAML.readValue(k.toFile(), Map.class);
                assertThat(doc.get("kind")).isEqualTo("Kustomization");
                assertThat(doc.get("resources")).as(k + " resources").isInstanceOf(List.class);
                for (Object r : (List<?>) Objects.requireNonNull(doc.get("resources"))) {
                    assertThat(k.resolveSibling(r.toString()))
                            .as(k + " resource " + r)
                            .exists();
                }
            }
        }
        Map<?, ?> overlay = YAML.readValue(
                DEPLOY.resolve("overlays/istio-cni/kustomization.yaml").toFile(), Map.class);
        String patches = String.valueOf(overlay.get("patches"));
        for (String removed : List.of("ztunnel-node-agent", "Namespace")) {
            assertThat(patches).contains("$patch: delete").contains(removed);
        }
        assertThat(patches).doesNotContain("name: ztunnel\n");
    }

    @Test
    void theDaemonMatchesIstiosChartWhereSecurityAndCompatibilityDependOnIt() {
        DaemonSet ds = find(DaemonSet.class, "ztunnel");
        assertThat(ds.getMetadata().getNamespace()).isEqualTo("istio-system");
        assertThat(ds.getSpec().getSelector().getMatchLabels()).isEqualTo(Map.of("app", "ztunnel"));
        assertThat(ds.getSpec()
                        .getUpdateStrategy()
                        .getRollingUpdate()
                        .getMaxSurge()
                        .getIntVal())
                .isEqualTo(1);
        assertThat(ds.getSpec()
                        .getUpdateStrategy()
                        .getRollingUpdate()
                        .getMaxUnavailable()
                        .getIntVal())
                .isZero();
        var template = ds.getSpec().getTemplate();
        assertThat(template.getMetadata().getLabels())
                .containsEntry("app", "ztunnel")
                .containsEntry("app.kubernetes.io/name", "ztunnel")
                .containsEntry("sidecar.istio.io/inject", "false")
                .containsEntry("istio.io/dataplane-mode", "none");
        assertThat(template.getMetadata().getAnnotations())
                .containsEntry("prometheus.io/scrape", "true")
                .containsEntry("prometheus.io/port", "15020");
        PodSpec spec = template.getSpec();
        assertThat(spec.getHostNetwork()).isNotEqualTo(Boolean.TRUE);
        assertThat(spec.getServiceAccountName()).isEqualTo("ztunnel");
        assertThat(spec.getPriorityClassName()).isEqualTo("system-node-critical");
        assertThat(spec.getTerminationGracePeriodSeconds()).isEqualTo(30L);
        assertThat(spec.getTolerations())
                .extracting(t -> t.getKey() + "/" + t.getEffect() + "/" + t.getOperator())
                .containsExactlyInAnyOrder(
                        "null/NoSchedule/Exists", "CriticalAddonsOnly/null/Exists", "null/NoExecute/Exists");

        Container c = spec.getContainers().getFirst();
        assertThat(spec.getContainers()).hasSize(1);
        assertThat(c.getName()).isEqualTo("istio-proxy");
        assertThat(c.getImage()).isEqualTo(IMAGE);
        assertThat(c.getArgs()).containsExactly("proxy", "ztunnel");
        assertThat(c.getCommand())
                .as("the image's entrypoint is the daemon, as Istio's")
                .isEmpty();
        var sc = c.getSecurityContext();
        assertThat(sc.getPrivileged()).isFalse();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd()).containsExactlyInAnyOrder("NET_ADMIN", "SYS_ADMIN", "NET_RAW");
        assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
        assertThat(sc.getRunAsUser()).isZero();
        assertThat(sc.getRunAsGroup()).isEqualTo(1337L);
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(15021);
        assertThat(c.getPorts()).anySatisfy(p -> {
            assertThat(p.getContainerPort()).isEqualTo(15020);
            assertThat(p.getName()).isEqualTo("ztunnel-stats");
        });

        Map<String, EnvVar> env = env(c);
        assertThat(variable(env, "CA_ADDRESS").getValue()).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(variable(env, "XDS_ADDRESS").getValue()).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(variable(env, "INPOD_ENABLED").getValue()).isEqualTo("true");
        assertThat(variable(env, "TERMINATION_GRACE_PERIOD_SECONDS").getValue()).isEqualTo("30");
        Map<String, String> downward = Map.of(
                "POD_NAME",
                "metadata.name",
                "POD_NAMESPACE",
                "metadata.namespace",
                "NODE_NAME",
                "spec.nodeName",
                "INSTANCE_IP",
                "status.podIP",
                "SERVICE_ACCOUNT",
                "spec.serviceAccountName");
        downward.forEach((name, field) -> assertThat(
                        variable(env, name).getValueFrom().getFieldRef().getFieldPath())
                .as(name)
                .isEqualTo(field));
        assertThat(variable(env, "ZTUNNEL_CPU_LIMIT")
                        .getValueFrom()
                        .getResourceFieldRef()
                        .getResource())
                .isEqualTo("limits.cpu");

        assertThat(mounts(c))
                .containsEntry("/var/run/secrets/istio", "istiod-ca-cert")
                .containsEntry("/var/run/secrets/tokens", "istio-token")
                .containsEntry("/var/run/ztunnel", "cni-ztunnel-sock-dir")
                .containsEntry("/tmp", "tmp");
        var token = volume(spec, "istio-token")
                .getProjected()
                .getSources()
                .getFirst()
                .getServiceAccountToken();
        assertThat(token.getAudience()).isEqualTo("istio-ca");
        assertThat(token.getPath()).isEqualTo("istio-token");
        assertThat(token.getExpirationSeconds()).isEqualTo(43200L);
        assertThat(volume(spec, "istiod-ca-cert").getConfigMap().getName()).isEqualTo("istio-ca-root-cert");
        assertThat(volume(spec, "cni-ztunnel-sock-dir").getHostPath().getPath()).isEqualTo("/var/run/ztunnel");
        assertThat(volume(spec, "cni-ztunnel-sock-dir").getHostPath().getType()).isEqualTo("DirectoryOrCreate");
        assertThat(spec.getVolumes())
                .as("no other host paths")
                .filteredOn(v -> v.getHostPath() != null)
                .hasSize(1);
    }

    /** Max heap + max direct memory from the JVM flags, in MiB. */
    private static long boundedMib(String opts, String flag) {
        var m = Pattern.compile(Pattern.quote(flag) + "(\\d+)m").matcher(opts);
        long v = -1;
        while (m.find()) {
            v = Long.parseLong(m.group(1)); // the JVM takes the last occurrence
        }
        assertThat(v).as(flag + " in " + opts).isPositive();
        return v;
    }

    @Test
    void jvmMemoryIsBoundedAndItsCeilingFitsTheContainerLimit() {
        Container daemon = find(DaemonSet.class, "ztunnel")
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .getFirst();
        String opts = variable(env(daemon), "ZTUNNEL_JAVA_OPTS").getValue();
        assertThat(opts)
                .as("the launcher's serial collector, which the image's AOT cache is trained with")
                .doesNotContainPattern("-XX:\\+Use[A-Za-z]+GC")
                .contains("-XX:+UseContainerSupport")
                .contains("-XX:+ExitOnOutOfMemoryError");
        long heap = boundedMib(opts, "-Xmx");
        long direct = boundedMib(opts, "-XX:MaxDirectMemorySize=");
        long meta = boundedMib(opts, "-XX:MaxMetaspaceSize=");
        long code = boundedMib(opts, "-XX:ReservedCodeCacheSize=");
        long request =
                Quantity.getAmountInBytes(daemon.getResources().getRequests().get("memory"))
                                .longValue()
                        >> 20;
        long limit = Quantity.getAmountInBytes(daemon.getResources().getLimits().get("memory"))
                        .longValue()
                >> 20;
        // Beyond the bounded areas: the AOT cache and JVM libraries (~80 MiB), thread stacks, GC tables and native
        // allocations (BoringSSL, symbols, JIT arenas): 160 MiB (ztunnel-bench/README.md, "Memory ceiling").
        assertThat(heap + direct + meta + code + 160)
                .as("the daemon's memory ceiling fits the limit")
                .isLessThanOrEqualTo(limit);
        assertThat(request).as("the request covers an idle daemon").isGreaterThanOrEqualTo(128);
        assertThat(limit).isGreaterThan(request);
        assertThat(daemon.getResources().getLimits())
                .as("no CPU limit (throttling adds latency)")
                .doesNotContainKey("cpu");

        Container agent = find(DaemonSet.class, "ztunnel-node-agent")
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .getFirst();
        String agentOpts = variable(env(agent), "ZTUNNEL_JAVA_OPTS").getValue();
        long agentRequest =
                Quantity.getAmountInBytes(agent.getResources().getRequests().get("memory"))
                                .longValue()
                        >> 20;
        assertThat(boundedMib(agentOpts, "-Xmx") + boundedMib(agentOpts, "-XX:MaxMetaspaceSize="))
                .isLessThanOrEqualTo(agentRequest - 32);
    }

    @Test
    void theNodeAgentHasTheAccessIstioCniHasAndNoMore() {
        DaemonSet ds = find(DaemonSet.class, "ztunnel-node-agent");
        PodSpec spec = ds.getSpec().getTemplate().getSpec();
        assertThat(ds.getSpec().getTemplate().getMetadata().getLabels())
                .containsEntry("istio.io/dataplane-mode", "none");
        assertThat(spec.getHostNetwork()).isNotEqualTo(Boolean.TRUE);
        assertThat(spec.getServiceAccountName()).isEqualTo("ztunnel-node-agent");
        assertThat(spec.getPriorityClassName()).isEqualTo("system-node-critical");
        Container c = spec.getContainers().getFirst();
        assertThat(c.getImage()).isEqualTo(IMAGE);
        assertThat(c.getCommand()).containsExactly("/opt/ztunnel/bin/ztunnel-node-agent");
        var sc = c.getSecurityContext();
        assertThat(sc.getPrivileged()).isFalse();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd())
                .containsExactlyInAnyOrder("NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN", "DAC_OVERRIDE");
        assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(8000);

        Map<String, EnvVar> env = env(c);
        assertThat(variable(env, "NODE_NAME").getValueFrom().getFieldRef().getFieldPath())
                .isEqualTo("spec.nodeName");
        assertThat(variable(env, "HOST_PROC").getValue()).isEqualTo("/host/proc");
        assertThat(variable(env, "INPOD_UDS").getValue()).isEqualTo("/var/run/ztunnel/ztunnel.sock");
        assertThat(variable(env, "READINESS_PORT").getValue()).isEqualTo("8000");
        assertThat(env).doesNotContainKey("AGENT_LOCAL_CONFIG");

        Map<String, String> mounts = mounts(c);
        assertThat(mounts)
                .containsEntry("/host/proc", "host-proc")
                .containsEntry("/host/var/run/netns", "host-netns")
                .containsEntry("/var/run/ztunnel", "cni-ztunnel-sock-dir");
        assertThat(c.getVolumeMounts())
                .filteredOn(m -> m.getMountPath().equals("/host/proc"))
                .allMatch(VolumeMount::getReadOnly);
        assertThat(c.getVolumeMounts())
                .filteredOn(m -> m.getMountPath().equals("/host/var/run/netns"))
                .allMatch(m -> "HostToContainer".equals(m.getMountPropagation()));
        assertThat(volume(spec, "host-proc").getHostPath().getPath()).isEqualTo("/proc");
        assertThat(volume(spec, "host-netns").getHostPath().getPath()).isEqualTo("/var/run/netns");
        assertThat(volume(spec, "cni-ztunnel-sock-dir").getHostPath().getPath()).isEqualTo("/var/run/ztunnel");

        ClusterRole role = find(ClusterRole.class, "ztunnel-node-agent");
        Set<String> grants = new TreeSet<>();
        for (PolicyRule r : role.getRules()) {
            assertThat(r.getApiGroups()).containsExactly("");
            for (String res : r.getResources()) {
                for (String verb : r.getVerbs()) {
                    grants.add(res + ":" + verb);
                }
            }
        }
        assertThat(grants)
                .containsExactlyInAnyOrder(
                        "pods:get",
                        "pods:list",
                        "pods:watch",
                        "namespaces:get",
                        "namespaces:list",
                        "namespaces:watch",
                        "nodes:get",
                        "nodes:list",
                        "nodes:watch",
                        "pods/status:patch");
        ClusterRoleBinding binding = find(ClusterRoleBinding.class, "ztunnel-node-agent");
        assertThat(binding.getRoleRef().getName()).isEqualTo("ztunnel-node-agent");
        assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
            assertThat(s.getKind()).isEqualTo("ServiceAccount");
            assertThat(s.getName()).isEqualTo("ztunnel-node-agent");
            assertThat(s.getNamespace()).isEqualTo("istio-system");
        });
        assertThat(objects)
                .as("the daemon gets no API access")
                .noneMatch(o -> o instanceof ClusterRoleBinding b
                        && b.getSubjects().stream().anyMatch(s -> "ztunnel".equals(s.getName())));
    }
}
