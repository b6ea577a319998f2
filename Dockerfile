# ztunnel-java: one image, two entrypoints, each with a class path of its own.
#   daemon (default):  /opt/ztunnel/bin/ztunnel proxy ztunnel   (Istio's ztunnel DaemonSet passes
#                      args ["proxy", "ztunnel"], so swapping the image is enough); runs
#                      ztunnel-daemon.jar (only what the daemon uses) with its AOT cache
#                      ztunnel-daemon.aot, trained while the image is built
#   node agent:        /opt/ztunnel/bin/ztunnel-node-agent      (command in deploy/base); runs
#                      ztunnel.jar with lib/ (the Kubernetes client lives only there)
# Build:  docker build -t ztunnel-java:dev .

# --- build: Maven on JDK 25 ------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY pom.xml ./
# The compiler's JVM options: Error Prone needs javac's internals exported (see the parent pom).
COPY .mvn .mvn
COPY ztunnel-cni-redirect ztunnel-cni-redirect
COPY ztunnel-metrics ztunnel-metrics
COPY ztunnel-xds ztunnel-xds
COPY ztunnel-core ztunnel-core
# Listed in the parent pom: Maven needs every module of the reactor present, even with -pl.
COPY ztunnel-bench ztunnel-bench
# The daemon's module and what it depends on; tests run in CI, not in the image build. (No
# BuildKit cache mount, so the classic builder, which Testcontainers uses, works too.)
RUN mvn -B -ntp -DskipTests -pl ztunnel-core -am package \
 && mkdir -p /out/lib \
 && cp ztunnel-core/target/ztunnel.jar ztunnel-core/target/ztunnel-daemon.jar /out/ \
 && cp ztunnel-core/target/lib/*.jar /out/lib/ \
 && rm -f /out/lib/netty-tcnative-boringssl-static-*-osx-*.jar /out/lib/netty-tcnative-boringssl-static-*-windows-*.jar

# --- runtime: JRE 25, the network tools the node agent drives, no build tools ------------------
FROM eclipse-temurin:25-jre
# iptables/ip6tables (in-pod rules, host probe SNAT), nftables (NATIVE_NFTABLES=true), ipset (the
# host probe set), iproute2 (ip rule/route in pods); nsenter comes with util-linux in the base.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables ipset iproute2 \
 && rm -rf /var/lib/apt/lists/*
# A non-root user for running the daemon outside Kubernetes (local mode, no capture). In a cluster
# both DaemonSets run as uid 0 with only the capabilities they need (see deploy/). The local CA's
# default directory (./var/lib/ztunnel/ca from /) belongs to it.
RUN useradd --system --uid 10001 --home-dir /var/lib/ztunnel --create-home ztunnel
COPY --from=build /out/ /opt/ztunnel/
COPY bin/ztunnel bin/ztunnel-java bin/ztunnel-node-agent bin/ztunnel-aot-train /opt/ztunnel/bin/
ENV ZTUNNEL_JAR=/opt/ztunnel/ztunnel.jar \
    ZTUNNEL_DAEMON_JAR=/opt/ztunnel/ztunnel-daemon.jar \
    PATH=/opt/ztunnel/bin:$PATH
# The daemon's AOT cache (JDK 25: its classes loaded and linked, method profiles), made by a training run of the
# daemon (dedicated mode on loopback, proxied HBONE and TCP connections, admin and metrics requests; see
# bin/ztunnel-aot-train). It is trained here, in the runtime stage, and not in the Maven stage: a cache is only used by
# the very JVM build that wrote it (this stage's JRE, not the build stage's JDK) and with the jar it was trained on
# (same size and time stamp). bin/ztunnel finds it beside the jar (ztunnel-daemon.aot) and uses it while it is newer
# than the jar. The training's own files (CA, config, logs) are temporary and removed.
RUN /opt/ztunnel/bin/ztunnel-aot-train /opt/ztunnel/ztunnel-daemon.aot \
 && chmod a+r /opt/ztunnel/ztunnel-daemon.aot \
 && rm -rf /tmp/*
# The working directory must be /, as in Istio's image: the default paths are relative
# (./var/run/secrets/tokens/istio-token, ./var/run/secrets/istio/root-cert.pem, the mesh config at
# ./etc/istio/config/mesh), so Istio's DaemonSet mounts are found without setting any variable.
WORKDIR /
USER 10001
# 15001/15006/15008 live in pod namespaces; these are the node-level ones: admin (localhost only),
# metrics, readiness, and the node agent's readiness/metrics.
EXPOSE 15020 15021 8000
ENTRYPOINT ["/opt/ztunnel/bin/ztunnel"]
CMD ["proxy", "ztunnel"]
