package io.ztunnel.metrics;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code istio_tcp_*} families: connections opened, closed and failed, bytes in each
 * direction, and open accepted sockets.
 *
 * <h2>Recording a connection</h2>
 *
 * <ul>
 *   <li>A connection that gets as far as relaying: {@link #open} when its labels are known (counts
 *       it opened under {@code response_flags="-"}), bytes through the returned
 *       {@link TrafficSeries}, then {@link TrafficSeries#close(ResponseFlags)} with the outcome.
 *       {@code close(NONE)} counts it closed under {@code -}; any other flag (e.g. {@code DENY}
 *       for a late policy rejection) counts it closed and failed under that flag. Bytes stay on
 *       the {@code -} series. This is how upstream ztunnel records it.
 *   <li>A connection that fails before relaying (RBAC deny, upstream connect failure, handshake
 *       failure): one call to {@link #failed}, which counts it opened, closed and failed, all in
 *       the series whose {@code response_flags} is the failure. No byte series is created.
 * </ul>
 *
 * So across all {@code response_flags} values of a label set, opened minus closed is the number
 * of connections currently open, and a DENY always lands in a {@code response_flags="DENY"}
 * series.
 *
 * <h2>Cardinality</h2>
 *
 * Each connection names the workloads it involves by opaque keys (core passes workload uids,
 * normally the source and the destination). Upstream ztunnel keeps every series it ever created;
 * here a series leaves the exposition once it can no longer grow: when every key combination that
 * contributed to it has lost a workload ({@link #workloadRemoved}) and its last open connection
 * has closed. Series of live workloads stay, so their counters never reset while the workloads
 * live. A connection opened with no keys pins its series forever (use it only for traffic whose
 * labels are all {@code unknown} or otherwise bounded). A workload that comes back under the same
 * key (a recreated StatefulSet pod) revives its series if one of its connections was still open;
 * otherwise its series starts again from zero, which Prometheus' {@code rate()} treats as an
 * ordinary counter reset.
 *
 * <p>Call {@link #workloadRemoved} after the state snapshot without the workload is published,
 * and, to close the remaining race with a connection that read the previous snapshot, call
 * {@link #retainWorkloads} now and then (for example after each full xDS push).
 *
 * <h2>Threading</h2>
 *
 * Thread-safe. {@code open}, {@code close} and {@code failed} take short per-series and
 * per-workload-set monitors (connection rate, not byte rate); the byte path takes none. Scrapes
 * run on the scraping thread and take each series' monitor briefly. Owned by
 * {@link ZtunnelMetrics}.
 */
public final class TrafficMetrics {
    private static final Logger log = LoggerFactory.getLogger(TrafficMetrics.class);

    static final String OPENED = "istio_tcp_connections_opened";
    static final String CLOSED = "istio_tcp_connections_closed";
    static final String RECEIVED = "istio_tcp_received_bytes";
    static final String SENT = "istio_tcp_sent_bytes";
    static final String FAILED = "istio_tcp_connections_failed";
    static final String SOCKETS_OPEN = "istio_tcp_sockets_open";

    /** Every family this class writes, by base name. */
    static final List<String> FAMILY_NAMES = List.of(OPENED, CLOSED, RECEIVED, SENT, FAILED, SOCKETS_OPEN);

    private static final ResponseFlags[] FLAGS = ResponseFlags.values();

    /** One table per outcome (indexed by ordinal), so lookups need no composite key object. */
    private final List<ConcurrentHashMap<TrafficLabels, Series>> tables;

    private final ConcurrentHashMap<Set<String>, WorkloadSet> workloadSets = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Set<WorkloadSet>> setsByWorkload = new ConcurrentHashMap<>();

    private final SocketGauge[] sockets = {new SocketGauge(), new SocketGauge()};

    TrafficMetrics() {
        List<ConcurrentHashMap<TrafficLabels, Series>> t = new ArrayList<>(FLAGS.length);
        for (int i = 0; i < FLAGS.length; i++) {
            t.add(new ConcurrentHashMap<>());
        }
        this.tables = List.copyOf(t);
    }

    /**
     * A connection starts relaying: counts it in {@code istio_tcp_connections_opened_total} of
     * {@code labels} with {@code response_flags="-"} and returns its handle for bytes and close.
     *
     * @param workloadKeys the workloads this connection involves (e.g. source and destination
     *     workload uids; empty when none is known). Not retained: a copy is interned.
     */
    public TrafficSeries open(TrafficLabels labels, Set<String> workloadKeys) {
        Objects.requireNonNull(labels, "labels");
        WorkloadSet ws = intern(workloadKeys);
        while (true) {
            Series s = table(ResponseFlags.NONE, labels);
            TrafficSeries conn = new TrafficSeries(this, s, ws);
            if (ws == null) {
                synchronized (s) {
                    if (s.removed) {
                        continue;
                    }
                    s.pinned = true;
                    opened(s, conn);
                }
            } else {
                synchronized (ws) {
                    synchronized (s) {
                        if (s.removed) {
                            continue;
                        }
                        link(ws, s);
                        opened(s, conn);
                    }
                }
            }
            return conn;
        }
    }

    /**
     * A connection failed before it relayed anything: counts it opened, closed and failed in the
     * series of {@code labels} whose {@code response_flags} is {@code flags}.
     *
     * @throws IllegalArgumentException if {@code flags} is {@link ResponseFlags#NONE}
     */
    public void failed(TrafficLabels labels, Set<String> workloadKeys, ResponseFlags flags) {
        Objects.requireNonNull(labels, "labels");
        if (!flags.isFailure()) {
            throw new IllegalArgumentException("flags: " + flags + " (expected: a failure flag)");
        }
        record(labels, intern(workloadKeys), flags, true);
    }

    /**
     * A workload left the mesh: every series that only it (or other removed workloads) kept alive
     * is dropped now if no connection holds it, or when its last open connection closes.
     */
    public void workloadRemoved(String key) {
        Set<WorkloadSet> sets = setsByWorkload.remove(key);
        if (sets == null) {
            return;
        }
        int dropped = 0;
        for (WorkloadSet ws : sets) {
            dropped += kill(key, ws);
        }
        log.atDebug()
                .addKeyValue("workload", key)
                .addKeyValue("workloadSets", sets.size())
                .addKeyValue("seriesDropped", dropped)
                .log("traffic series released for removed workload");
    }

    /**
     * Treats every workload key for which {@code isLive} answers {@code false} as removed. Use it to
     * reconcile with the current state after a full update; see the class comment.
     */
    public void retainWorkloads(Predicate<String> isLive) {
        for (String key : setsByWorkload.keySet()) {
            if (!isLive.test(key)) {
                workloadRemoved(key);
            }
        }
    }

    /** An accepted socket was opened ({@code istio_tcp_sockets_open}). */
    public void socketOpened(Reporter reporter) {
        SocketGauge g = sockets[reporter.ordinal()];
        g.touched = true;
        g.value.increment();
    }

    /** An accepted socket was closed ({@code istio_tcp_sockets_open}). */
    public void socketClosed(Reporter reporter) {
        SocketGauge g = sockets[reporter.ordinal()];
        g.touched = true;
        g.value.decrement();
    }

    /** How many series (label set and outcome) are currently exposed. */
    public int seriesCount() {
        int n = 0;
        for (ConcurrentHashMap<TrafficLabels, Series> t : tables) {
            n += t.size();
        }
        return n;
    }

    /** Called once per connection by {@link TrafficSeries#close}. */
    void closed(TrafficSeries conn, ResponseFlags flags) {
        Series s = conn.series;
        if (flags.isFailure()) {
            record(s.labels, conn.workloads, flags, false);
        }
        synchronized (s) {
            if (!flags.isFailure()) {
                s.closed++;
            }
            s.detach(conn);
            s.refs--;
            removeIfUnused(s);
        }
    }

    /** Counts a closed (and failed) connection, optionally opened too, in the {@code flags} series. */
    private void record(TrafficLabels labels, @Nullable WorkloadSet ws, ResponseFlags flags, boolean countOpened) {
        while (true) {
            Series s = table(flags, labels);
            if (ws == null) {
                synchronized (s) {
                    if (s.removed) {
                        continue;
                    }
                    s.pinned = true;
                    count(s, countOpened);
                }
            } else {
                synchronized (ws) {
                    synchronized (s) {
                        if (s.removed) {
                            continue;
                        }
                        link(ws, s);
                        count(s, countOpened);
                    }
                }
            }
            return;
        }
    }

    /** Caller holds the series monitor (and the workload set's, if any). */
    private void count(Series s, boolean countOpened) {
        if (countOpened) {
            s.opened++;
        }
        s.closed++;
        s.failed++;
        // The series may already be retired (all its workloads gone): then the count is dropped with it.
        removeIfUnused(s);
    }

    /** Caller holds the series monitor. */
    private static void opened(Series s, TrafficSeries conn) {
        s.refs++;
        s.opened++;
        s.carriesBytes = true;
        s.attach(conn);
    }

    /** Caller holds both monitors, workload set first. */
    private static void link(WorkloadSet ws, Series s) {
        if (!ws.dead && ws.series.add(s)) {
            s.liveSets++;
        }
    }

    /** Caller holds the series monitor. */
    private void removeIfUnused(Series s) {
        if (s.refs == 0 && !s.removed && s.retired()) {
            s.removed = true;
            tables.get(s.flags.ordinal()).remove(s.labels, s);
        }
    }

    private int kill(String removedKey, WorkloadSet ws) {
        workloadSets.remove(ws.keys, ws);
        List<Series> linked;
        synchronized (ws) {
            if (ws.dead) {
                return 0;
            }
            ws.dead = true;
            linked = List.copyOf(ws.series);
            ws.series.clear();
        }
        for (String other : ws.keys) {
            if (!other.equals(removedKey)) {
                setsByWorkload.computeIfPresent(other, (k, v) -> {
                    v.remove(ws);
                    return v.isEmpty() ? null : v;
                });
            }
        }
        int dropped = 0;
        for (Series s : linked) {
            synchronized (s) {
                s.liveSets--;
                boolean wasRemoved = s.removed;
                removeIfUnused(s);
                if (!wasRemoved && s.removed) {
                    dropped++;
                }
            }
        }
        return dropped;
    }

    private Series table(ResponseFlags flags, TrafficLabels labels) {
        ConcurrentHashMap<TrafficLabels, Series> t = tables.get(flags.ordinal());
        Series s = t.get(labels);
        return s != null ? s : t.computeIfAbsent(labels, l -> new Series(l, flags));
    }

    private @Nullable WorkloadSet intern(Set<String> keys) {
        if (keys.isEmpty()) {
            return null;
        }
        WorkloadSet ws = workloadSets.get(keys);
        if (ws != null) {
            return ws;
        }
        return workloadSets.computeIfAbsent(Set.copyOf(keys), k -> {
            WorkloadSet created = new WorkloadSet(k);
            for (String key : k) {
                // compute, not computeIfAbsent + add: workloadRemoved may empty and drop the set concurrently.
                setsByWorkload.compute(key, (kk, v) -> {
                    Set<WorkloadSet> sets = v != null ? v : ConcurrentHashMap.newKeySet();
                    sets.add(created);
                    return sets;
                });
            }
            return created;
        });
    }

    /** Writes the non-empty {@code istio_tcp_*} families. Runs on the scraping thread. */
    void writeTo(ExpositionWriter w) throws IOException {
        List<Series.Snapshot> snaps = new ArrayList<>();
        for (ConcurrentHashMap<TrafficLabels, Series> t : tables) {
            for (Series s : t.values()) {
                Series.Snapshot snap = s.snapshot();
                if (snap != null) {
                    snaps.add(snap);
                }
            }
        }
        // Stable, diff-friendly order: the rendered label sets compared bytewise.
        snaps.sort((a, b) -> Arrays.compareUnsigned(a.labels(), b.labels()));

        writeFamily(w, snaps, OPENED, "Total number of TCP connections opened.", Field.OPENED);
        writeFamily(w, snaps, CLOSED, "Total number of TCP connections closed.", Field.CLOSED);
        writeFamily(
                w,
                snaps,
                RECEIVED,
                "Total bytes received on TCP connections, client to server, for both reporters.",
                Field.RECEIVED);
        writeFamily(
                w,
                snaps,
                SENT,
                "Total bytes sent on TCP connections, server to client, for both reporters.",
                Field.SENT);
        writeFamily(
                w,
                snaps,
                FAILED,
                "Total number of TCP connections that ended with a failure response flag (unstable).",
                Field.FAILED);

        boolean anySockets = false;
        for (SocketGauge g : sockets) {
            anySockets |= g.touched;
        }
        if (anySockets) {
            w.family(
                    SOCKETS_OPEN, ExpositionWriter.Type.GAUGE, "Number of accepted sockets currently open (unstable).");
            for (Reporter r : Reporter.values()) {
                SocketGauge g = sockets[r.ordinal()];
                if (g.touched) {
                    w.sample(SOCKETS_OPEN, ExpositionWriter.Type.GAUGE, "reporter", r.labelValue(), g.value.sum());
                }
            }
        }
    }

    private enum Field {
        OPENED,
        CLOSED,
        RECEIVED,
        SENT,
        FAILED;

        boolean present(Series.Snapshot s) {
            return switch (this) {
                case OPENED -> s.opened() > 0;
                case CLOSED -> s.closed() > 0;
                case RECEIVED, SENT -> s.carriesBytes();
                case FAILED -> s.failed() > 0;
            };
        }

        long value(Series.Snapshot s) {
            return switch (this) {
                case OPENED -> s.opened();
                case CLOSED -> s.closed();
                case RECEIVED -> s.received();
                case SENT -> s.sent();
                case FAILED -> s.failed();
            };
        }
    }

    private static void writeFamily(
            ExpositionWriter w, List<Series.Snapshot> snaps, String name, String help, Field field) throws IOException {
        boolean started = false;
        for (Series.Snapshot s : snaps) {
            if (!field.present(s)) {
                continue;
            }
            if (!started) {
                w.family(name, ExpositionWriter.Type.COUNTER, help);
                started = true;
            }
            w.sample(name, ExpositionWriter.Type.COUNTER, s.labels(), field.value(s));
        }
    }

    /** One {@code reporter} series of {@code istio_tcp_sockets_open}. */
    private static final class SocketGauge {
        final LongAdder value = new LongAdder();
        volatile boolean touched;
    }
}
