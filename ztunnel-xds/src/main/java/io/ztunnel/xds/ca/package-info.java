/**
 * Client of istiod's certificate authority ({@code IstioCertificateService/CreateCertificate}): {@link IstioCaClient}.
 * CSR and key generation are the caller's.
 */
@NullMarked
package io.ztunnel.xds.ca;

import org.jspecify.annotations.NullMarked;
