package kubeproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// nftables mode (kube-proxy --proxy-mode nftables, GA in Kubernetes 1.33).
//
// The text below is what kube-proxy's nftables proxier writes for one
// Service, in the `nft -f` syntax its tests print (knftables' dump): a
// table "kube-proxy" whose "services" chain looks the destination up in the
// service-ips map (ClusterIP . proto . port : goto service chain) and the
// service-nodeports map (proto . nodeport : goto external chain); each
// service chain marks traffic from outside the pod CIDR for masquerading and
// picks an endpoint chain with `numgen random mod N vmap`, each endpoint
// chain DNATs to podIP:port. The lab writes the whole table in one nft
// transaction (delete + add), where kube-proxy sends incremental
// transactions: the resulting ruleset is the same, and nft applies a file
// atomically, so a packet sees either the old or the new table.

// NFTTable is kube-proxy's nftables table (family ip).
const NFTTable = "kube-proxy"

// nftHash is kube-proxy's hashAndTruncate prefix: the first 8 characters of
// base32(sha256(name)).
func nftHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:8]
}

// nftBase is "namespace/name/protocol/portname" (kube-proxy's
// servicePortChainNameBase).
func (s Service) nftBase(p ServicePort) string {
	return s.Namespace + "/" + s.Name + "/" + strings.ToLower(p.Protocol) + "/" + p.Name
}

// NFTServiceChain names a service port's chain, e.g.
// "service-ULMVA6XW-ns1/svc1/tcp/p80".
func NFTServiceChain(base string) string { return "service-" + nftHash(base) + "-" + base }

// NFTExternalChain names a service port's NodePort/external chain.
func NFTExternalChain(base string) string { return "external-" + nftHash(base) + "-" + base }

// NFTEndpointChain names an endpoint's chain, e.g.
// "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80".
func NFTEndpointChain(base, ip string, port int) string {
	b := base + "__" + ip + "/" + strconv.Itoa(port)
	return "endpoint-" + nftHash(b) + "-" + b
}

// NFTOptions are the node-level settings of the ruleset.
type NFTOptions struct {
	ServiceCIDR string   // drop traffic to unallocated ClusterIPs in it ("" = no rule)
	NodePortIPs []string // node addresses that accept NodePort traffic
	// Counters adds a `counter` to each endpoint's dnat rule (kube-proxy
	// has none): the lab reads new flows per endpoint from it.
	Counters bool
}

// nftBaseRules is the fixed part: kube-proxy's sets, maps, hook chains and
// the rules tying them together (filter chains reject traffic to services
// without endpoints and drop traffic to unallocated ClusterIPs).
func nftBaseRules(o NFTOptions) string {
	t := "ip " + NFTTable
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(`add table %s { comment "rules for kube-proxy" ; }`, t)
	w("")
	w(`add set %s cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`, t)
	w(`add set %s nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }`, t)
	w("")
	w(`add map %s firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`, t)
	w(`add map %s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`, t)
	w(`add map %s no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }`, t)
	w(`add map %s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`, t)
	w(`add map %s service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`, t)
	w("")
	w("add chain %s cluster-ips-check", t)
	w("add chain %s filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }", t)
	w("add chain %s filter-output-pre-dnat { type filter hook output priority -110 ; }", t)
	w("add chain %s filter-forward { type filter hook forward priority 0 ; }", t)
	w("add chain %s filter-input { type filter hook input priority 0 ; }", t)
	w("add chain %s filter-output { type filter hook output priority 0 ; }", t)
	w("add chain %s firewall-check", t)
	w("add chain %s mark-for-masquerade", t)
	w("add chain %s masquerading", t)
	w("add chain %s nat-output { type nat hook output priority -100 ; }", t)
	w("add chain %s nat-postrouting { type nat hook postrouting priority 100 ; }", t)
	w("add chain %s nat-prerouting { type nat hook prerouting priority -100 ; }", t)
	w("add chain %s nodeport-endpoints-check", t)
	w(`add chain %s reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }`, t)
	w("add chain %s services", t)
	w("add chain %s service-endpoints-check", t)
	w("")
	w(`add rule %s cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`, t)
	if o.ServiceCIDR != "" {
		w(`add rule %s cluster-ips-check ip daddr { %s } drop comment "Drop traffic to unallocated ClusterIPs"`, t, o.ServiceCIDR)
	}
	w("add rule %s filter-prerouting-pre-dnat ct state new jump firewall-check", t)
	w("add rule %s filter-forward ct state new jump service-endpoints-check", t)
	w("add rule %s filter-forward ct state new jump cluster-ips-check", t)
	w("add rule %s filter-input ct state new jump nodeport-endpoints-check", t)
	w("add rule %s filter-input ct state new jump service-endpoints-check", t)
	w("add rule %s filter-output ct state new jump service-endpoints-check", t)
	w("add rule %s filter-output-pre-dnat ct state new jump firewall-check", t)
	w("add rule %s filter-output ct state new jump cluster-ips-check", t)
	w("add rule %s firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips", t)
	w("add rule %s mark-for-masquerade mark set mark or %s", t, MasqMark)
	w("add rule %s masquerading mark and %s == 0 return", t, MasqMark)
	w("add rule %s masquerading mark set mark xor %s", t, MasqMark)
	w("add rule %s masquerading masquerade fully-random", t)
	w("add rule %s nat-output jump services", t)
	w("add rule %s nat-postrouting jump masquerading", t)
	w("add rule %s nat-prerouting jump services", t)
	w("add rule %s nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports", t)
	w("add rule %s reject-chain reject", t)
	w("add rule %s services ip daddr . meta l4proto . th dport vmap @service-ips", t)
	w("add rule %s services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports", t)
	w("")
	for _, ip := range o.NodePortIPs {
		w("add element %s nodeport-ips { %s }", t, ip)
	}
	w("add rule %s service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services", t)
	return b.String()
}

// NFTServiceRules is the part of the ruleset for one Service whose every
// port is served by the given endpoint IPs (kube-proxy's per-service output).
func NFTServiceRules(svc Service, endpointIPs []string) (string, error) {
	return nftServiceRules(svc, endpointIPs, false)
}

func nftServiceRules(svc Service, endpointIPs []string, counters bool) (string, error) {
	if _, err := netip.ParseAddr(svc.ClusterIP); err != nil {
		return "", fmt.Errorf("kubeproxy: cluster IP %q: %w", svc.ClusterIP, err)
	}
	ips := append([]string(nil), endpointIPs...)
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("kubeproxy: endpoint %q: %w", ip, err)
		}
	}
	sort.Slice(ips, func(i, j int) bool { return addrLess(ips[i], ips[j]) })
	t := "ip " + NFTTable
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	for _, p := range svc.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto != "tcp" && proto != "udp" {
			return "", fmt.Errorf("kubeproxy: port %s: protocol %q (want tcp or udp)", p.Name, p.Protocol)
		}
		base := svc.nftBase(p)
		svcChain, extChain := NFTServiceChain(base), NFTExternalChain(base)
		w("# %s", svc.PortName(p))
		if len(ips) == 0 {
			// No endpoints: the filter chains reject new connections.
			w("add element %s cluster-ips { %s }", t, svc.ClusterIP)
			w(`add element %s no-endpoint-services { %s . %s . %d comment "%s" : goto reject-chain }`, t, svc.ClusterIP, proto, p.Port, svc.PortName(p))
			if p.NodePort > 0 {
				w(`add element %s no-endpoint-nodeports { %s . %d comment "%s" : goto reject-chain }`, t, proto, p.NodePort, svc.PortName(p))
			}
			w("")
			continue
		}
		w("add chain %s %s", t, svcChain)
		if svc.ClusterCIDR != "" {
			w("add rule %s %s ip daddr %s ip saddr != %s jump mark-for-masquerade", t, svcChain, svc.ClusterIP, svc.ClusterCIDR)
		}
		var vmap []string
		for i, ip := range ips {
			vmap = append(vmap, fmt.Sprintf("%d : goto %s", i, NFTEndpointChain(base, ip, p.TargetPort)))
		}
		w("add rule %s %s numgen random mod %d vmap { %s }", t, svcChain, len(ips), strings.Join(vmap, " , "))
		if p.NodePort > 0 {
			w("add chain %s %s", t, extChain)
			w("add rule %s %s jump mark-for-masquerade", t, extChain)
			w("add rule %s %s goto %s", t, extChain, svcChain)
		} else {
			w("")
		}
		// Endpoint chains in name order, as kube-proxy's dumps list them.
		eps := make([]string, len(ips))
		copy(eps, ips)
		sort.Slice(eps, func(i, j int) bool {
			return NFTEndpointChain(base, eps[i], p.TargetPort) < NFTEndpointChain(base, eps[j], p.TargetPort)
		})
		for _, ip := range eps {
			ep := NFTEndpointChain(base, ip, p.TargetPort)
			w("add chain %s %s", t, ep)
			w("add rule %s %s ip saddr %s jump mark-for-masquerade", t, ep, ip)
			counter := ""
			if counters {
				counter = "counter "
			}
			w("add rule %s %s meta l4proto %s %sdnat to %s:%d", t, ep, proto, counter, ip, p.TargetPort)
		}
		w("")
		w("add element %s cluster-ips { %s }", t, svc.ClusterIP)
		w("add element %s service-ips { %s . %s . %d : goto %s }", t, svc.ClusterIP, proto, p.Port, svcChain)
		if p.NodePort > 0 {
			w("add element %s service-nodeports { %s . %d : goto %s }", t, proto, p.NodePort, extChain)
		}
		w("")
	}
	return b.String(), nil
}

// NFTRules is the whole table for svc as one `nft -f` transaction that
// replaces any previous table: "add table" (so the delete cannot fail on
// the first run), "delete table", then everything anew. Existing
// connections keep their endpoint: the DNAT binding lives in conntrack.
func NFTRules(svc Service, endpointIPs []string, o NFTOptions) (string, error) {
	rules, err := nftServiceRules(svc, endpointIPs, o.Counters)
	if err != nil {
		return "", err
	}
	// nft resolves a goto when it reads the rule, so every chain is
	// declared before the rules (kube-proxy's knftables orders its
	// transactions the same way).
	var chains, rest []string
	for _, l := range strings.Split(rules, "\n") {
		if strings.HasPrefix(l, "add chain ") {
			chains = append(chains, l)
		} else {
			rest = append(rest, l)
		}
	}
	return "add table ip " + NFTTable + "\ndelete table ip " + NFTTable + "\n" + nftBaseRules(o) + "\n" +
		strings.Join(chains, "\n") + "\n\n" + strings.Join(rest, "\n"), nil
}
