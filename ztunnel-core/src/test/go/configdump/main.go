// Command configdump-check reads a ztunnel /config_dump the way istioctl's "ztunnel-config" commands do, with Go's
// encoding/json and types written from istioctl's (not copied), then checks the dump again strictly against the full
// set of keys upstream ztunnel writes. Standard library only: it builds without downloading anything.
//
// Usage: go run . <dump.json>
//
// It prints one JSON object with what it decoded (counts of workloads, services, policies, certificates and
// connections) and exits 0, or prints the problems on stderr and exits 1.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// ----- istioctl's view: lenient decoding, as istioctl does it --------------------------------------------------------

type locality struct {
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
	Subzone string `json:"subzone,omitempty"`
}

type gatewayAddress struct {
	Destination string `json:"destination"`
}

type applicationTunnel struct {
	Protocol string  `json:"protocol"`
	Port     *uint16 `json:"port,omitempty"`
}

type workload struct {
	UID                   string            `json:"uid"`
	WorkloadIPs           []string          `json:"workloadIps"`
	Waypoint              *gatewayAddress   `json:"waypoint,omitempty"`
	NetworkGateway        *gatewayAddress   `json:"networkGateway,omitempty"`
	Protocol              string            `json:"protocol"`
	Name                  string            `json:"name"`
	Namespace             string            `json:"namespace"`
	ServiceAccount        string            `json:"serviceAccount"`
	WorkloadName          string            `json:"workloadName"`
	WorkloadType          string            `json:"workloadType"`
	CanonicalName         string            `json:"canonicalName"`
	CanonicalRevision     string            `json:"canonicalRevision"`
	ClusterID             string            `json:"clusterId"`
	TrustDomain           string            `json:"trustDomain,omitempty"`
	Locality              locality          `json:"locality,omitempty"`
	Node                  string            `json:"node"`
	Network               string            `json:"network,omitempty"`
	Status                string            `json:"status"`
	Hostname              string            `json:"hostname"`
	Capacity              uint32            `json:"capacity"`
	ApplicationTunnel     applicationTunnel `json:"applicationTunnel,omitempty"`
	AuthorizationPolicies []string          `json:"authorizationPolicies,omitempty"`
}

type loadBalancer struct {
	Mode               string   `json:"mode"`
	RoutingPreferences []string `json:"routingPreferences"`
	HealthPolicy       string   `json:"healthPolicy"`
}

type endpoint struct {
	WorkloadUID string            `json:"workloadUid"`
	Service     string            `json:"service"`
	Address     string            `json:"address,omitempty"`
	Port        map[uint16]uint16 `json:"port"`
}

type service struct {
	Name            string               `json:"name"`
	Namespace       string               `json:"namespace"`
	Hostname        string               `json:"hostname"`
	Addresses       []string             `json:"vips"`
	Ports           map[string]int       `json:"ports"`
	LoadBalancer    *loadBalancer        `json:"loadBalancer,omitempty"`
	Waypoint        *gatewayAddress      `json:"waypoint,omitempty"`
	Endpoints       map[string]*endpoint `json:"endpoints"`
	SubjectAltNames []string             `json:"subjectAltNames,omitempty"`
	IPFamilies      string               `json:"ipFamilies"`
}

type stringMatch struct {
	Exact    string `json:"Exact,omitempty"`
	Suffix   string `json:"Suffix,omitempty"`
	Prefix   string `json:"Prefix,omitempty"`
	Presence any    `json:"Presence,omitempty"`
}

type serviceAccountMatch struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

type policyMatch struct {
	Namespaces          []stringMatch         `json:"namespaces,omitempty"`
	NotNamespaces       []stringMatch         `json:"notNamespaces,omitempty"`
	Principals          []stringMatch         `json:"principals,omitempty"`
	NotPrincipals       []stringMatch         `json:"notPrincipals,omitempty"`
	SourceIps           []string              `json:"sourceIps,omitempty"`
	NotSourceIps        []string              `json:"notSourceIps,omitempty"`
	DestinationIps      []string              `json:"destinationIps,omitempty"`
	NotDestinationIps   []string              `json:"notDestinationIps,omitempty"`
	DestinationPorts    []uint16              `json:"destinationPorts,omitempty"`
	NotDestinationPorts []uint16              `json:"notDestinationPorts,omitempty"`
	ServiceAccounts     []serviceAccountMatch `json:"serviceAccounts,omitempty"`
	NotServiceAccounts  []serviceAccountMatch `json:"notServiceAccounts,omitempty"`
}

type policy struct {
	Name      string             `json:"name"`
	Namespace string             `json:"namespace"`
	Scope     string             `json:"scope"`
	Action    string             `json:"action"`
	Rules     [][][]*policyMatch `json:"rules"`
}

type cert struct {
	Pem            string `json:"pem"`
	SerialNumber   string `json:"serialNumber"`
	ValidFrom      string `json:"validFrom"`
	ExpirationTime string `json:"expirationTime"`
}

type certsDump struct {
	Identity  string  `json:"identity"`
	State     string  `json:"state"`
	CertChain []*cert `json:"certChain"`
	RootCerts []*cert `json:"rootCerts"`
}

type connection struct {
	Src         string `json:"src"`
	OriginalDst string `json:"originalDst"`
	ActualDst   string `json:"actualDst"`
	Protocol    string `json:"protocol"`
}

type workloadConnections struct {
	Inbound  []connection `json:"inbound"`
	Outbound []connection `json:"outbound"`
}

type workloadInfo struct {
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
	TrustDomain    string `json:"trustDomain"`
	ServiceAccount string `json:"serviceAccount"`
}

type workloadState struct {
	State       string              `json:"state,omitempty"`
	Connections workloadConnections `json:"connections,omitempty"`
	Info        workloadInfo        `json:"info"`
}

// rawDump is how istioctl first splits the dump: the four lists may each be an array or an object of values.
type rawDump struct {
	Services      json.RawMessage          `json:"services"`
	Workloads     json.RawMessage          `json:"workloads"`
	Policies      json.RawMessage          `json:"policies"`
	Certificates  json.RawMessage          `json:"certificates"`
	WorkloadState map[string]workloadState `json:"workloadstate"`
}

func listOrMap[T any](raw json.RawMessage) ([]T, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []T
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var byKey map[string]T
	if err := json.Unmarshal(raw, &byKey); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		list = append(list, byKey[k])
	}
	return list, nil
}

// ----- upstream's full shape: strict decoding (no key upstream does not write) -------------------------------------

type strictGateway struct {
	Destination   string `json:"destination"`
	HboneMtlsPort uint16 `json:"hboneMtlsPort"`
}

type strictWorkload struct {
	ApplicationTunnel     *applicationTunnel `json:"applicationTunnel"`
	AuthorizationPolicies []string           `json:"authorizationPolicies"`
	CanonicalName         string             `json:"canonicalName"`
	CanonicalRevision     string             `json:"canonicalRevision"`
	Capacity              uint32             `json:"capacity"`
	ClusterID             string             `json:"clusterId"`
	Hostname              string             `json:"hostname"`
	Locality              *struct {
		Region  string `json:"region"`
		Subzone string `json:"subzone"`
		Zone    string `json:"zone"`
	} `json:"locality"`
	Name           string         `json:"name"`
	Namespace      string         `json:"namespace"`
	NativeTunnel   bool           `json:"nativeTunnel"`
	Network        string         `json:"network"`
	NetworkGateway *strictGateway `json:"networkGateway"`
	NetworkMode    string         `json:"networkMode"`
	Node           string         `json:"node"`
	Protocol       string         `json:"protocol"`
	ServiceAccount string         `json:"serviceAccount"`
	Services       []string       `json:"services"`
	Status         string         `json:"status"`
	TrustDomain    string         `json:"trustDomain"`
	UID            string         `json:"uid"`
	Waypoint       *strictGateway `json:"waypoint"`
	WorkloadIPs    []string       `json:"workloadIps"`
	WorkloadName   string         `json:"workloadName"`
	WorkloadType   string         `json:"workloadType"`
}

type strictEndpoint struct {
	Port        map[uint16]uint16 `json:"port"`
	Status      string            `json:"status"`
	WorkloadUID string            `json:"workloadUid"`
}

type strictService struct {
	Canonical         bool                       `json:"canonical"`
	CidrVips          []string                   `json:"cidrVips"`
	Endpoints         map[string]*strictEndpoint `json:"endpoints"`
	Hostname          string                     `json:"hostname"`
	IPFamilies        string                     `json:"ipFamilies"`
	LoadBalancer      *loadBalancer              `json:"loadBalancer"`
	Name              string                     `json:"name"`
	Namespace         string                     `json:"namespace"`
	Ports             map[string]uint16          `json:"ports"`
	SubjectAltNames   []string                   `json:"subjectAltNames"`
	Vips              []string                   `json:"vips"`
	Visibility        string                     `json:"visibility"`
	Waypoint          *strictGateway             `json:"waypoint"`
	WeightedWaypoints []struct {
		Destination strictGateway `json:"destination"`
		Weight      uint32        `json:"weight"`
	} `json:"weightedWaypoints"`
}

type strictPolicy struct {
	Action    string             `json:"action"`
	DryRun    bool               `json:"dryRun"`
	Name      string             `json:"name"`
	Namespace string             `json:"namespace"`
	Rules     [][][]*policyMatch `json:"rules"`
	Scope     string             `json:"scope"`
}

type strictWorkloadState struct {
	Connections *struct {
		Inbound  []connection `json:"inbound"`
		Outbound []connection `json:"outbound"`
	} `json:"connections"`
	Info struct {
		Name           string `json:"name"`
		Namespace      string `json:"namespace"`
		ServiceAccount string `json:"serviceAccount"`
	} `json:"info"`
	State string `json:"state"`
}

type strictVersion struct {
	BuildProfile   string `json:"buildProfile"`
	BuildStatus    string `json:"buildStatus"`
	CryptoProvider string `json:"cryptoProvider"`
	GitRevision    string `json:"gitRevision"`
	IstioVersion   string `json:"istioVersion"`
	JavaVersion    string `json:"javaVersion"` // ours, beside upstream's keys
	RustVersion    string `json:"rustVersion"`
	Version        string `json:"version"`
}

type strictDump struct {
	Certificates   []certsDump                          `json:"certificates"`
	Config         map[string]json.RawMessage           `json:"config"`
	Policies       []strictPolicy                       `json:"policies"`
	Services       []strictService                      `json:"services"`
	StagedServices map[string]map[string]strictEndpoint `json:"stagedServices"`
	StaticConfig   struct {
		Policies  []json.RawMessage `json:"policies"`
		Services  []json.RawMessage `json:"services"`
		Workloads []json.RawMessage `json:"workloads"`
	} `json:"staticConfig"`
	Version       strictVersion                  `json:"version"`
	WorkloadState map[string]strictWorkloadState `json:"workloadState"`
	Workloads     []strictWorkload               `json:"workloads"`
}

// upstreamConfigKeys are the keys of upstream's Config that istioctl users see; ours must include them all.
var upstreamConfigKeys = []string{
	"adminAddr", "altCaHostname", "altXdsHostname", "caAddress", "caHeaders", "caRootCert", "clusterDomain",
	"clusterId", "connectionWindowSize", "dnsProxy", "dnsProxyAddr", "dnsResolverCfg", "dnsResolverOpts", "fakeCa",
	"fakeSelfInbound", "frameSize", "illegalPorts", "inboundAddr", "inboundPlaintextAddr", "inpodPortReuse",
	"inpodUds", "ipv6Enabled", "localNode", "localhostAppTunnel", "network", "numWorkerThreads", "outboundAddr",
	"packetMark", "poolMaxStreamsPerConn", "poolUnusedReleaseTimeout", "preferedServiceNamespace", "proxy",
	"proxyArgs", "proxyMetadata", "proxyMode", "proxyWorkloadInformation", "readinessAddr", "requireOriginalSource",
	"secretTtl", "selfTerminationDeadline", "socketConfig", "socks5Addr", "statsAddr", "transparentNetworkPolicies",
	"windowSize", "xdsAddress", "xdsHeaders", "xdsOnDemand", "xdsRootCert", "ztunnelIdentity", "ztunnelWorkload",
}

// ----- checks ----------------------------------------------------------------------------------------------------------

type summary struct {
	Workloads    int `json:"workloads"`
	Services     int `json:"services"`
	Policies     int `json:"policies"`
	Certificates int `json:"certificates"`
	Certs        int `json:"certs"`
	Pods         int `json:"pods"`
	Inbound      int `json:"inbound"`
	Outbound     int `json:"outbound"`
	Endpoints    int `json:"endpoints"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configdump-check <dump.json>")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var out summary

	// istioctl's reading.
	var raw rawDump
	if err := json.Unmarshal(data, &raw); err != nil {
		fail("istioctl: dump: %v", err)
	}
	workloads, err := listOrMap[*workload](raw.Workloads)
	if err != nil {
		fail("istioctl: workloads: %v", err)
	}
	services, err := listOrMap[*service](raw.Services)
	if err != nil {
		fail("istioctl: services: %v", err)
	}
	policies, err := listOrMap[*policy](raw.Policies)
	if err != nil {
		fail("istioctl: policies: %v", err)
	}
	certificates, err := listOrMap[*certsDump](raw.Certificates)
	if err != nil {
		fail("istioctl: certificates: %v", err)
	}
	out.Workloads, out.Services, out.Policies, out.Certificates = len(workloads), len(services), len(policies), len(certificates)

	// What istioctl's printers rely on.
	names := map[string]bool{}
	for _, s := range services {
		names[s.Namespace+"/"+s.Hostname] = true
		for _, vip := range s.Addresses {
			names[vip] = true
			_, ip, found := strings.Cut(vip, "/")
			if !found || net.ParseIP(ip) == nil {
				fail("service %s: vip %q is not network/ip", s.Hostname, vip)
			} else if net.ParseIP(ip).String() != ip {
				fail("service %s: vip %q: IP not in canonical (compressed) form", s.Hostname, vip)
			}
		}
		out.Endpoints += len(s.Endpoints)
		for uid, e := range s.Endpoints {
			if e.WorkloadUID != uid {
				fail("service %s: endpoint %q has workloadUid %q", s.Hostname, uid, e.WorkloadUID)
			}
		}
	}
	for _, w := range workloads {
		for _, ip := range w.WorkloadIPs {
			if parsed := net.ParseIP(ip); parsed == nil || parsed.String() != ip {
				fail("workload %s: IP %q not in canonical form", w.UID, ip)
			}
		}
		if w.Waypoint != nil && !names[w.Waypoint.Destination] {
			fail("workload %s: waypoint %q names no service or vip", w.UID, w.Waypoint.Destination)
		}
		if w.Status != "Healthy" && w.Status != "Unhealthy" {
			fail("workload %s: status %q", w.UID, w.Status)
		}
	}
	for _, c := range certificates {
		for _, group := range [][]*cert{c.CertChain, c.RootCerts} {
			for _, ce := range group {
				out.Certs++
				if _, ok := new(big.Int).SetString(ce.SerialNumber, 10); !ok {
					fail("certificate %s: serial %q is not decimal", c.Identity, ce.SerialNumber)
				}
				for _, t := range []string{ce.ValidFrom, ce.ExpirationTime} {
					if _, err := time.Parse(time.RFC3339, t); err != nil {
						fail("certificate %s: time %q: %v", c.Identity, t, err)
					}
				}
			}
		}
	}
	for uid, ws := range raw.WorkloadState {
		out.Pods++
		for gi, group := range [][]connection{ws.Connections.Inbound, ws.Connections.Outbound} {
			for _, c := range group {
				addrs := []string{c.Src, c.ActualDst}
				if gi == 1 {
					addrs = append(addrs, c.OriginalDst)
				} else if c.OriginalDst != "" && strings.ContainsAny(c.OriginalDst, " /\"\t") {
					// Inbound: null, or the Forwarded host= a waypoint sent (a host name, as it was sent).
					fail("workloadState %s: inbound originalDst %q", uid, c.OriginalDst)
				}
				if c.Protocol != "TCP" && c.Protocol != "HBONE" && c.Protocol != "DOUBLEHBONE" {
					fail("workloadState %s: protocol %q", uid, c.Protocol)
				}
				for _, addr := range addrs {
					host, _, err := net.SplitHostPort(addr)
					if err != nil {
						fail("workloadState %s: address %q: %v", uid, addr, err)
					} else if ip := net.ParseIP(host); ip != nil && ip.String() != host {
						fail("workloadState %s: address %q: IP not in canonical form", uid, addr)
					}
				}
			}
		}
		out.Inbound += len(ws.Connections.Inbound)
		out.Outbound += len(ws.Connections.Outbound)
	}

	// Upstream's full shape, strictly.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var strict strictDump
	if err := dec.Decode(&strict); err != nil {
		fail("strict: %v", err)
	} else {
		for _, key := range upstreamConfigKeys {
			if _, ok := strict.Config[key]; !ok {
				fail("strict: config has no %q", key)
			}
		}
		if strict.StagedServices == nil {
			fail("strict: no stagedServices object")
		}
	}

	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
