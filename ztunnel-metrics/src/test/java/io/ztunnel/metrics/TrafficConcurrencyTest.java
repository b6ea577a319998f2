package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.metrics.StrictExpositionParser.Family;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Recording from many threads while scraping: exact totals, monotonic counters, no stuck series. */
@Timeout(120)
class TrafficConcurrencyTest {
    private static final int WRITERS = 4;
    private static final int ADDS_PER_WRITER = 100_000;

    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();
    private final TrafficMetrics traffic = metrics.traffic();
    private final ExecutorService pool = Executors.newFixedThreadPool(WRITERS + 2);

    @AfterEach
    void close() throws InterruptedException {
        pool.shutdownNow();
        assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        metrics.close();
    }

    @Test
    void bytesAddedFromManyThreadsWhileScrapingAddUpExactly() throws Exception {
        TrafficLabels labels = TestLabels.sleepToHttpbin();
        TrafficSeries shared = traffic.open(labels, Set.of("sleep-pod"));
        CountDownLatch start = new CountDownLatch(1);
        AtomicBoolean writing = new AtomicBoolean(true);
        List<Future<long[]>> writers = new ArrayList<>();
        for (int w = 0; w < WRITERS; w++) {
            writers.add(pool.submit(() -> {
                start.await();
                long received = 0;
                long sent = 0;
                int connections = 0;
                TrafficSeries own = traffic.open(labels, Set.of("sleep-pod"));
                connections++;
                for (int i = 0; i < ADDS_PER_WRITER; i++) {
                    long n = 1L + (i % 1500);
                    TrafficSeries target = (i & 1) == 0 ? own : shared; // one handle shared by all threads too
                    target.addReceived(n);
                    target.addSent(2 * n);
                    received += n;
                    sent += 2 * n;
                    if (i % 10_000 == 9_999) { // churn: connections come and go on the same series
                        own.close(ResponseFlags.NONE);
                        own = traffic.open(labels, Set.of("sleep-pod"));
                        connections++;
                    }
                }
                own.close(ResponseFlags.NONE);
                return new long[] {received, sent, connections};
            }));
        }
        AtomicInteger scrapes = new AtomicInteger();
        Future<?> scraper = pool.submit(() -> {
            start.await();
            long lastReceived = 0;
            long lastSent = 0;
            while (writing.get()) {
                Map<String, Family> parsed = StrictExpositionParser.parse(
                        metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT);
                long received = (long) requireFamily(parsed, "istio_tcp_received_bytes_total")
                        .samples()
                        .getFirst()
                        .value();
                long sent = (long) requireFamily(parsed, "istio_tcp_sent_bytes_total")
                        .samples()
                        .getFirst()
                        .value();
                // Counters never go backwards, even while connections close and fold into the totals.
                assertThat(received).isGreaterThanOrEqualTo(lastReceived);
                assertThat(sent).isGreaterThanOrEqualTo(lastSent);
                lastReceived = received;
                lastSent = sent;
                scrapes.incrementAndGet();
            }
            return null;
        });

        start.countDown();
        long received = 0;
        long sent = 0;
        long connections = 1; // the shared one
        for (Future<long[]> f : writers) {
            long[] r = f.get();
            received += r[0];
            sent += r[1];
            connections += r[2];
        }
        writing.set(false);
        scraper.get();
        shared.close(ResponseFlags.NONE);

        Map<String, Family> parsed = StrictExpositionParser.parse(
                metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(scrapes.get()).isPositive();
        assertThat((long) requireFamily(parsed, "istio_tcp_received_bytes_total")
                        .samples()
                        .getFirst()
                        .value())
                .isEqualTo(received);
        assertThat((long) requireFamily(parsed, "istio_tcp_sent_bytes_total")
                        .samples()
                        .getFirst()
                        .value())
                .isEqualTo(sent);
        assertThat((long) requireFamily(parsed, "istio_tcp_connections_opened_total")
                        .samples()
                        .getFirst()
                        .value())
                .isEqualTo(connections);
        assertThat((long) requireFamily(parsed, "istio_tcp_connections_closed_total")
                        .samples()
                        .getFirst()
                        .value())
                .isEqualTo(connections);
    }

    @Test
    void lifecycleRacesNeverLoseTrackOfASeries() throws Exception {
        // Connections open and close on short-lived workloads while another thread removes them.
        int rounds = 20_000;
        CountDownLatch start = new CountDownLatch(1);
        AtomicBoolean running = new AtomicBoolean(true);
        List<Future<?>> workers = new ArrayList<>();
        for (int w = 0; w < WRITERS; w++) {
            workers.add(pool.submit(() -> {
                start.await();
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                for (int i = 0; i < rounds; i++) {
                    int job = rnd.nextInt(32);
                    TrafficLabels labels = TestLabels.outbound("job-" + job, "db");
                    Set<String> keys = Set.of("pod/job-" + job, "pod/db-0");
                    if (rnd.nextInt(4) == 0) {
                        traffic.failed(labels, keys, ResponseFlags.CONNECT);
                    } else {
                        TrafficSeries c = traffic.open(labels, keys);
                        c.addReceived(1);
                        c.close(rnd.nextBoolean() ? ResponseFlags.NONE : ResponseFlags.DENY);
                    }
                }
                return null;
            }));
        }
        Future<?> remover = pool.submit(() -> {
            start.await();
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            while (running.get()) {
                traffic.workloadRemoved("pod/job-" + rnd.nextInt(32));
                metrics.scrape(ExpositionFormat.OPENMETRICS);
            }
            return null;
        });
        start.countDown();
        for (Future<?> f : workers) {
            f.get();
        }
        running.set(false);
        remover.get();

        // Every connection is closed, so once no workload is live nothing may remain.
        traffic.retainWorkloads(key -> false);
        assertThat(traffic.seriesCount()).isZero();
        assertThat(metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT)).doesNotContain("istio_tcp_");
    }
}
