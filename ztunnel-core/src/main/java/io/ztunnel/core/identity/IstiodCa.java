package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import io.ztunnel.xds.ca.CertificateRequest;
import io.ztunnel.xds.ca.IstioCaClient;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * istiod's CA ({@code IstioCertificateService/CreateCertificate}) as a {@link CertificateAuthority}: sends the CSR
 * with {@code validity_duration = SECRET_TTL} and, in shared (node proxy) mode only, the metadata {@code
 * ImpersonatedIdentity = <spiffe id>}; in dedicated mode no metadata is sent and istiod signs for the caller's own
 * identity. The PEM chain istiod returns is read as Istio lays it out ({@link IssuedChain#fromIstioResponse}: leaf
 * first, root bundle last); a chain without a root is an error.
 *
 * <p>This class does not check the identity in the returned leaf: the {@link CertificateManager} checks that its
 * first URI SAN is the requested identity and that it certifies the CSR's key, and keeps the previous certificate when
 * a renewal fails for any reason.
 *
 * <p>Threading: {@link #sign} never blocks; the returned stage completes on the CA client's callback thread.
 * Ownership: the instance owns its {@link IstioCaClient} (a gRPC channel on the endpoint's event loop group and one
 * callback thread) and closes it in {@link #close}, which the daemon calls after the certificate manager stopped.
 */
public final class IstiodCa implements CertificateAuthority, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IstiodCa.class);

    private final IstioCaClient client;
    private final String address;
    private final boolean impersonate;

    /**
     * @param client the CA client; owned (closed) by this instance from now on
     * @param address the CA address, for {@link #describe()} and messages
     * @param impersonate whether to ask for the workload's identity ({@code ImpersonatedIdentity}, shared mode)
     *     rather than the caller's own (dedicated mode)
     */
    public IstiodCa(IstioCaClient client, String address, boolean impersonate) {
        this.client = Objects.requireNonNull(client, "client");
        this.address = Objects.requireNonNull(address, "address");
        this.impersonate = impersonate;
    }

    /** A CA client on {@code endpoint} (istiod's {@code CA_ADDRESS}), impersonating workloads in shared mode. */
    public static IstiodCa create(ControlPlaneEndpoint endpoint, boolean impersonate) {
        return new IstiodCa(IstioCaClient.create(endpoint), endpoint.address().toString(), impersonate);
    }

    @Override
    public CompletionStage<IssuedChain> sign(SpiffeId identity, String csrPem, Duration ttl) {
        CertificateRequest request;
        try {
            request = impersonate
                    ? CertificateRequest.impersonating(csrPem, ttl, identity.toString())
                    : CertificateRequest.forSelf(csrPem, ttl);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(
                    new IllegalArgumentException("certificate request for " + identity + ": " + Errors.message(e), e));
        }
        log.atDebug()
                .addKeyValue("identity", identity)
                .addKeyValue("ttl", ttl)
                .addKeyValue("impersonate", impersonate)
                .log("requesting a certificate from istiod");
        return client.createCertificate(request).thenApply(chain -> parse(identity, chain));
    }

    private IssuedChain parse(SpiffeId identity, List<String> pemChain) {
        try {
            return IssuedChain.fromIstioResponse(pemChain);
        } catch (IllegalArgumentException e) {
            throw new CompletionException(new IllegalArgumentException(
                    "istiod CA at " + address + " returned an unusable chain for " + identity + ": "
                            + Errors.message(e),
                    e));
        }
    }

    @Override
    public String describe() {
        return "istiod CA " + address + (impersonate ? " (impersonating workloads)" : " (own identity)");
    }

    /** Closes the CA client; outstanding requests fail. Idempotent. */
    @Override
    public void close() {
        client.close();
    }
}
