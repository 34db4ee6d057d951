// Package kubeproxy writes the nat rules kube-proxy's iptables mode writes for
// one Service, as iptables-restore input. It is pure text generation: the lab
// applies the text inside its own network namespace.
//
// The format follows kube-proxy's documented output (chain names from
// base32(sha256(servicePortName+protocol)), one KUBE-SEP chain per endpoint,
// `-m statistic --mode random --probability 1/(n-i)` formatted %0.10f), so a
// reader who knows a node's `iptables-save` recognises every line.
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

// Fixed chain names kube-proxy uses in the nat table.
const (
	ChainServices    = "KUBE-SERVICES"
	ChainNodePorts   = "KUBE-NODEPORTS"
	ChainPostrouting = "KUBE-POSTROUTING"
	ChainMarkMasq    = "KUBE-MARK-MASQ"
	// MasqMark is kube-proxy's default --iptables-masquerade-bit 14.
	MasqMark = "0x4000"
)

// ServicePort is one port of a Service (name as in the Service spec).
type ServicePort struct {
	Name       string // e.g. "http"
	Protocol   string // "tcp" or "udp"
	Port       int    // ClusterIP port
	TargetPort int    // pod port
	NodePort   int    // 0 = none
}

// Service is the Service the lab emulates.
type Service struct {
	Namespace, Name string
	ClusterIP       string
	ClusterCIDR     string // pod CIDR; traffic from outside it is masqueraded ("" = no such rule)
	Ports           []ServicePort
}

// PortName is kube-proxy's ServicePortName string: "namespace/name:port".
func (s Service) PortName(p ServicePort) string {
	return s.Namespace + "/" + s.Name + ":" + p.Name
}

// hash16 is kube-proxy's chain-name hash: base32 of sha256, first 16 chars.
func hash16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// ServiceChain names the KUBE-SVC chain of a service port.
func ServiceChain(portName, protocol string) string {
	return "KUBE-SVC-" + hash16(portName+strings.ToLower(protocol))
}

// ExternalChain names the KUBE-EXT chain (NodePort entry) of a service port.
func ExternalChain(portName, protocol string) string {
	return "KUBE-EXT-" + hash16(portName+strings.ToLower(protocol))
}

// EndpointChain names the KUBE-SEP chain of one endpoint ("ip:port").
func EndpointChain(portName, protocol, endpoint string) string {
	return "KUBE-SEP-" + hash16(portName+strings.ToLower(protocol)+endpoint)
}

// Probability is the statistic probability of rule i (0-based) among n
// endpoints: 1/(n-i), printed as kube-proxy prints it.
func Probability(n, i int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n-i))
}

// Bootstrap returns the rules that hook kube-proxy's chains into the built-in
// nat chains. kube-proxy adds these once with `iptables -I`, outside the
// restore; the lab applies them once when the namespace is new.
func Bootstrap() string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, c := range []string{ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq} {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	b.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
	b.WriteString("COMMIT\n")
	return b.String()
}

// Rules returns the full nat ruleset for svc with the given endpoint IPs
// (each serving every target port), and the per-service chains it wrote.
// Chains in previous that are no longer used are flushed and deleted, as
// kube-proxy does on a full sync. The text is meant for
// `iptables-restore --noflush`: declaring a chain flushes it, so every write
// replaces the previous state atomically.
func Rules(svc Service, endpointIPs []string, previous []string) (text string, chains []string, err error) {
	if _, err := netip.ParseAddr(svc.ClusterIP); err != nil {
		return "", nil, fmt.Errorf("kubeproxy: cluster IP %q: %w", svc.ClusterIP, err)
	}
	ips := append([]string(nil), endpointIPs...)
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", nil, fmt.Errorf("kubeproxy: endpoint %q: %w", ip, err)
		}
	}
	// kube-proxy writes endpoints in a stable (sorted) order.
	sort.Slice(ips, func(i, j int) bool { return addrLess(ips[i], ips[j]) })

	var decl, rules strings.Builder
	for _, c := range []string{ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq} {
		fmt.Fprintf(&decl, ":%s - [0:0]\n", c)
	}
	rules.WriteString("-A KUBE-POSTROUTING -m mark ! --mark " + MasqMark + "/" + MasqMark + " -j RETURN\n")
	rules.WriteString("-A KUBE-POSTROUTING -j MARK --xor-mark " + MasqMark + "\n")
	rules.WriteString("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	rules.WriteString("-A KUBE-MARK-MASQ -j MARK --or-mark " + MasqMark + "\n")

	used := map[string]bool{}
	declare := func(c string) {
		if !used[c] {
			used[c] = true
			chains = append(chains, c)
			fmt.Fprintf(&decl, ":%s - [0:0]\n", c)
		}
	}
	for _, p := range svc.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto != "tcp" && proto != "udp" {
			return "", nil, fmt.Errorf("kubeproxy: port %s: protocol %q (want tcp or udp)", p.Name, p.Protocol)
		}
		pn := svc.PortName(p)
		if len(ips) == 0 {
			// No endpoints: kube-proxy rejects in the filter table; the lab
			// leaves the ClusterIP unrouted, which refuses the same way.
			continue
		}
		svcChain := ServiceChain(pn, proto)
		declare(svcChain)
		match := fmt.Sprintf("-m %s -p %s -d %s --dport %d", proto, proto, svc.ClusterIP, p.Port)
		fmt.Fprintf(&rules, "-A KUBE-SERVICES -m comment --comment \"%s cluster IP\" %s -j %s\n", pn, match, svcChain)
		if p.NodePort > 0 {
			ext := ExternalChain(pn, proto)
			declare(ext)
			fmt.Fprintf(&rules, "-A KUBE-NODEPORTS -m comment --comment %s -m %s -p %s --dport %d -j %s\n", pn, proto, proto, p.NodePort, ext)
			fmt.Fprintf(&rules, "-A %s -m comment --comment \"masquerade traffic for %s external destinations\" -j KUBE-MARK-MASQ\n", ext, pn)
			fmt.Fprintf(&rules, "-A %s -j %s\n", ext, svcChain)
		}
		if svc.ClusterCIDR != "" {
			fmt.Fprintf(&rules, "-A %s -m comment --comment \"%s cluster IP\" %s ! -s %s -j KUBE-MARK-MASQ\n", svcChain, pn, match, svc.ClusterCIDR)
		}
		n := len(ips)
		for i, ip := range ips {
			ep := ip + ":" + strconv.Itoa(p.TargetPort)
			sep := EndpointChain(pn, proto, ep)
			declare(sep)
			stat := ""
			if i < n-1 {
				stat = " -m statistic --mode random --probability " + Probability(n, i)
			}
			fmt.Fprintf(&rules, "-A %s -m comment --comment \"%s -> %s\"%s -j %s\n", svcChain, pn, ep, stat, sep)
		}
		for _, ip := range ips {
			ep := ip + ":" + strconv.Itoa(p.TargetPort)
			sep := EndpointChain(pn, proto, ep)
			fmt.Fprintf(&rules, "-A %s -m comment --comment %s -s %s -j KUBE-MARK-MASQ\n", sep, pn, ip)
			fmt.Fprintf(&rules, "-A %s -m comment --comment %s -m %s -p %s -j DNAT --to-destination %s\n", sep, pn, proto, proto, ep)
		}
	}
	rules.WriteString("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n")
	for _, c := range previous {
		if !used[c] {
			// Declaring flushes the chain so -X can delete it.
			fmt.Fprintf(&decl, ":%s - [0:0]\n", c)
			fmt.Fprintf(&rules, "-X %s\n", c)
		}
	}
	return "*nat\n" + decl.String() + rules.String() + "COMMIT\n", chains, nil
}

// addrLess orders IP strings numerically (10.244.0.10 after 10.244.0.9).
func addrLess(a, b string) bool {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return a < b
	}
	return x.Less(y)
}
