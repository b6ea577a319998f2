package io.ztunnel.core.state;

/** Where a workload runs, for locality-aware load balancing and telemetry. Empty strings when unknown. */
public record Locality(String region, String zone, String subzone) {
    public static final Locality NONE = new Locality("", "", "");

    public Locality {
        region = region == null ? "" : region;
        zone = zone == null ? "" : zone;
        subzone = subzone == null ? "" : subzone;
    }
}
