package io.ztunnel.cni.agent.kube;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.ztunnel.cni.agent.PodHooks;
import io.ztunnel.cni.agent.PodStatus;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.rules.HostProbeSnat;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link PodHooks} for Kubernetes: the host probe set through {@link HostProbeSnat} (in the node's
 * network namespace), and the {@value PodHooks#REDIRECTION_ANNOTATION} annotation through a JSON
 * merge patch of the {@code pods/status} subresource, as istio-cni writes it. The patch carries the
 * pod's uid, so the API server refuses it (409) for a newer pod of the same name; removing the
 * annotation of a pod that is gone (404) or replaced (409) counts as done.
 *
 * <p>Threading: called on the agent's reconcile thread only; each call blocks for one API request
 * (the client's request timeout) or one ipset command. Owns neither the client nor the probe rules.
 */
public final class KubePodHooks implements PodHooks {
    private static final Logger log = LoggerFactory.getLogger(KubePodHooks.class);

    private final KubernetesClient client;
    private final @Nullable HostProbeSnat probes;

    /**
     * @param probes the host probe set, or null to leave kubelet probes alone (tests, or no host
     *     netns access)
     */
    public KubePodHooks(KubernetesClient client, @Nullable HostProbeSnat probes) {
        this.client = Objects.requireNonNull(client, "client");
        this.probes = probes;
    }

    @Override
    public void addProbeTarget(Pod pod) throws Exception {
        if (probes != null) {
            probes.addPod(pod.uid(), pod.ips());
        }
    }

    @Override
    public void removeProbeTarget(Pod pod) throws Exception {
        if (probes != null) {
            probes.removePod(pod.uid(), pod.ips());
        }
    }

    @Override
    public void annotate(Pod pod, PodStatus.State state) {
        patch(pod, "\"" + state.text() + "\"");
        log.atInfo()
                .setMessage("pod annotated")
                .addKeyValue("pod", pod.key())
                .addKeyValue(REDIRECTION_ANNOTATION, state.text())
                .log();
    }

    @Override
    public void clearAnnotation(Pod pod) {
        try {
            patch(pod, "null");
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404 || e.getCode() == 409) {
                return; // the pod is gone or is another pod now
            }
            throw e;
        }
    }

    private void patch(Pod pod, String value) {
        String body = "{\"metadata\":{\"uid\":\""
                + pod.uid()
                + "\",\"annotations\":{\""
                + REDIRECTION_ANNOTATION
                + "\":"
                + value
                + "}}}";
        client.pods()
                .inNamespace(pod.namespace())
                .withName(pod.name())
                .subresource("status")
                .patch(PatchContext.of(PatchType.JSON_MERGE), body);
    }
}
