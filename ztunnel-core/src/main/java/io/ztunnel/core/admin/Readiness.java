package io.ztunnel.core.admin;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;

/**
 * What the daemon still waits for before it is ready ({@code GET /healthz/ready} on 15021): named tasks such as
 * {@code state manager} (first config or xDS sync) and {@code proxy} (listeners bound). A task can come back (e.g. the
 * in-pod manager when its connection to the node agent drops). Thread-safe.
 */
public final class Readiness {
    private final Set<String> pending = new ConcurrentSkipListSet<>();

    /** Marks {@code task} as pending; returns a handle that marks it done. */
    public Task register(String task) {
        pending.add(task);
        return () -> pending.remove(task);
    }

    public boolean isReady() {
        return pending.isEmpty();
    }

    /** Pending task names, sorted. */
    public List<String> pending() {
        return List.copyOf(pending);
    }

    /** The readiness endpoint's answer. */
    public HttpServer.Response response(String method) {
        if (!method.equals("GET")) {
            return HttpServer.Response.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed\n");
        }
        List<String> now = pending();
        return now.isEmpty()
                ? HttpServer.Response.text(HttpResponseStatus.OK, "ready\n")
                : HttpServer.Response.text(
                        HttpResponseStatus.INTERNAL_SERVER_ERROR,
                        "not ready, pending: " + String.join(", ", now) + "\n");
    }

    /** A registered task. */
    @FunctionalInterface
    public interface Task {
        void done();
    }
}
