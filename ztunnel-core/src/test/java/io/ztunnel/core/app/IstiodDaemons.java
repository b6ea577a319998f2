package io.ztunnel.core.app;

import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.xds.testing.FakeIstiod;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The configuration of a dedicated-mode daemon on loopback fed only by a fake istiod (xDS and CA at its address, its
 * root trusted, a token, ephemeral admin/stats/readiness ports, one worker), as the tests with whole daemons and a fake
 * istiod start them.
 */
final class IstiodDaemons {
    private IstiodDaemons() {}

    /**
     * @param dir where the istiod root certificate is written
     * @param extra added last, so it overrides the defaults above
     */
    static Config config(FakeIstiod istiod, Path dir, String workload, String ip, Map<String, String> extra)
            throws Exception {
        Path root = istiod.writeRoot(dir.resolve("istiod-root.pem"));
        Map<String, String> env = new HashMap<>();
        env.put("PROXY_MODE", "dedicated");
        env.put("PROXY_WORKLOAD_INFO", workload);
        env.put("PROXY_BIND_ADDRESS", ip);
        env.put("XDS_ADDRESS", istiod.address());
        env.put("CA_ADDRESS", istiod.address());
        env.put("XDS_ROOT_CA", root.toString());
        env.put("CA_ROOT_CA", root.toString());
        env.put("AUTH_TOKEN", "mesh-token");
        env.put("INSTANCE_IP", ip);
        env.put("POD_NAME", "ztunnel-" + ip);
        env.put("POD_NAMESPACE", "istio-system");
        env.put("ADMIN_PORT", "0");
        env.put("STATS_PORT", "0");
        env.put("READINESS_PORT", "0");
        env.put("ZTUNNEL_WORKER_THREADS", "1");
        env.putAll(extra);
        return Config.from(new Env(env));
    }
}
