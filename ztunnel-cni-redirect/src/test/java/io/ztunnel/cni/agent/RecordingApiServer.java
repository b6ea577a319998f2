package io.ztunnel.cni.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * fabric8's mock API server as {@code @EnableKubernetesMockClient(crud = true)} builds it (expectations first, then
 * CRUD), with three things of the real API server that the mock lacks, so that the agent runs with its production
 * configuration and the tests assert on what the agent sent rather than on what the mock stored:
 *
 * <ul>
 *   <li>every request is recorded as received ({@link #requests()});
 *   <li>the {@code spec.nodeName} field selector on pod lists and watches is accepted: the mock matches field selectors
 *       on {@code metadata.name} and {@code metadata.namespace} only, so the selector is recorded and taken off before
 *       the mock answers (with every node's pods; the agent drops other nodes' pods on its side too);
 *   <li>a merge patch of {@code pods/<name>/status} also changes the pod's metadata, as on the real API server (the
 *       mock keeps only {@code .status}): that is how istio-cni's annotation lands and how the agent sees it back.
 * </ul>
 *
 * <p>Threading: the dispatcher runs on the mock server's threads; the request list is thread-safe.
 */
final class RecordingApiServer implements AutoCloseable {
    /** A request as the agent sent it, and the status code of the answer. */
    record Request(String method, String path, String body, int code) {}

    private static final Pattern STATUS_PATCH =
            Pattern.compile("^(/api/v1/namespaces/[^/]+/pods/[^/?]+)/status(\\?.*)?$");
    private static final Pattern FIELD_SELECTOR = Pattern.compile("([?&])fieldSelector=([^&]*)");

    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final KubernetesMockServer server;
    private final NamespacedKubernetesClient client;

    RecordingApiServer() {
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        Dispatcher mock = new KubernetesMixedDispatcher(responses);
        Dispatcher recording = new Dispatcher() {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                return handle(mock, request);
            }

            @Override
            public void shutdown() {
                mock.shutdown();
            }
        };
        server = new KubernetesMockServer(
                new Context(Serialization.jsonMapper()), new MockWebServer(), responses, recording, false);
        server.init();
        client = server.createClient();
    }

    KubernetesMockServer server() {
        return server;
    }

    NamespacedKubernetesClient client() {
        return client;
    }

    /** The {@code pods/<name>/status} patches received so far, answered or refused. */
    List<Request> statusPatches(String namespace, String name) {
        String path = "/api/v1/namespaces/" + namespace + "/pods/" + name + "/status";
        return requests.stream()
                .filter(r -> r.method().equals("PATCH") && r.path().equals(path))
                .toList();
    }

    /** The paths of the pod list and watch requests over all namespaces, URL-decoded. */
    List<String> podListsAndWatches() {
        return requests.stream()
                .filter(r -> r.method().equals("GET") && r.path().startsWith("/api/v1/pods"))
                .map(r -> URLDecoder.decode(r.path(), StandardCharsets.UTF_8))
                .toList();
    }

    /** Every request received so far, in order. */
    List<Request> requests() {
        return List.copyOf(requests);
    }

    /**
     * The values the {@code pods/<name>/status} merge patches accepted so far (2xx) set {@code annotation} to, in
     * order ({@code null} for a removal); each patch must carry the pod's {@code uid} as istio-cni's does.
     */
    List<@Nullable String> statusAnnotations(String namespace, String name, String uid, String annotation) {
        List<@Nullable String> out = new ArrayList<>();
        String path = "/api/v1/namespaces/" + namespace + "/pods/" + name + "/status";
        for (Request r : requests) {
            if (!r.method().equals("PATCH") || !r.path().equals(path) || r.code() / 100 != 2) {
                continue;
            }
            JsonNode meta = json(r.body()).path("metadata");
            if (!uid.equals(meta.path("uid").asText())) {
                throw new AssertionError("status patch without the pod's uid " + uid + ": " + r.body());
            }
            JsonNode value = meta.path("annotations").get(annotation);
            if (value == null) {
                continue;
            }
            out.add(value.isNull() ? null : value.asText());
        }
        return out;
    }

    private static JsonNode json(String body) {
        try {
            return new ObjectMapper().readTree(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private MockResponse handle(Dispatcher mock, RecordedRequest request) {
        Buffer body = request.getBody();
        byte[] bytes = body == null ? new byte[0] : body.getBytes();
        String path = request.getPath();
        MockResponse response = answer(mock, request, path, bytes);
        requests.add(
                new Request(request.getMethod(), path, new String(bytes, StandardCharsets.UTF_8), response.code()));
        return response;
    }

    private MockResponse answer(Dispatcher mock, RecordedRequest request, String path, byte[] bytes) {
        Matcher selector = FIELD_SELECTOR.matcher(path);
        if (path.startsWith("/api/v1/pods") && selector.find()) {
            String value = URLDecoder.decode(selector.group(2), StandardCharsets.UTF_8);
            if (value.startsWith("spec.nodeName=") && !value.contains(",")) {
                String rest = path.substring(0, selector.start()) + selector.group(1) + path.substring(selector.end());
                rest = rest.replace("?&", "?").replace("&&", "&");
                if (rest.endsWith("?") || rest.endsWith("&")) {
                    rest = rest.substring(0, rest.length() - 1);
                }
                return mock.dispatch(copy(request, request.method(), rest, bytes));
            }
        }
        MockResponse response = mock.dispatch(request);
        Matcher status = STATUS_PATCH.matcher(path);
        if (request.method() == HttpMethod.PATCH && status.matches() && response.code() / 100 == 2) {
            JsonNode metadata = json(new String(bytes, StandardCharsets.UTF_8)).get("metadata");
            if (metadata != null) {
                String patch = "{\"metadata\":" + metadata + "}";
                mock.dispatch(copy(request, HttpMethod.PATCH, status.group(1), patch.getBytes(StandardCharsets.UTF_8)));
            }
        }
        return response;
    }

    private static RecordedRequest copy(RecordedRequest request, HttpMethod method, String path, byte[] body) {
        return new RecordedRequest(request.getHttpVersion(), method, path, request.getHeaders(), new Buffer(body));
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
