package kubeproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Chain names printed by kube-proxy's nftables tests for ns1/svc1:p80 and
// its endpoint 10.180.0.1:80: our hashing must give the same names.
func TestNFTChainNamesMatchKubeProxy(t *testing.T) {
	base := "ns1/svc1/tcp/p80"
	for _, tt := range []struct{ got, want string }{
		{NFTServiceChain(base), "service-ULMVA6XW-ns1/svc1/tcp/p80"},
		{NFTEndpointChain(base, "10.180.0.1", 80), "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"},
		{NFTExternalChain("ns3/svc3/tcp/p80"), "external-4AT6LBPK-ns3/svc3/tcp/p80"},
		{NFTEndpointChain("ns4/svc4/tcp/p80", "10.180.0.5", 80), "endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

// kubeProxyNFT is kube-proxy's expected dump (TestOverallNFTablesRules in
// pkg/proxy/nftables/proxier_test.go) for its base rules plus a ClusterIP
// service (svc1), a NodePort service (svc3), a two-endpoint service without
// NodePort (svc4, ExternalIP elements left out: the lab has none) and a
// service without endpoints (svc6).
const kubeProxyNFT = `
add table ip kube-proxy { comment "rules for kube-proxy" ; }

add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }

add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }

add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check

add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports

add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services

# svc1
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 }

add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80

add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }

# svc3
add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }
add chain ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade
add rule ip kube-proxy external-4AT6LBPK-ns3/svc3/tcp/p80 goto service-4AT6LBPK-ns3/svc3/tcp/p80
add chain ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 ip saddr 10.180.0.3 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 meta l4proto tcp dnat to 10.180.0.3:80

add element ip kube-proxy cluster-ips { 172.30.0.43 }
add element ip kube-proxy service-ips { 172.30.0.43 . tcp . 80 : goto service-4AT6LBPK-ns3/svc3/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3003 : goto external-4AT6LBPK-ns3/svc3/tcp/p80 }

# svc4
add chain ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 ip daddr 172.30.0.44 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 , 1 : goto endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 }
add chain ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 ip saddr 10.180.0.5 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80 meta l4proto tcp dnat to 10.180.0.5:80
add chain ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 ip saddr 10.180.0.4 jump mark-for-masquerade
add rule ip kube-proxy endpoint-UNZV3OEC-ns4/svc4/tcp/p80__10.180.0.4/80 meta l4proto tcp dnat to 10.180.0.4:80

add element ip kube-proxy cluster-ips { 172.30.0.44 }
add element ip kube-proxy service-ips { 172.30.0.44 . tcp . 80 : goto service-LAUZTJTB-ns4/svc4/tcp/p80 }

# svc6
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain }
`

// significant drops blank and comment lines: kube-proxy's comparison
// ignores them too.
func significant(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestNFTRulesMatchKubeProxyTestCase(t *testing.T) {
	one := func(ns, name, ip string, nodePort int) Service {
		return Service{Namespace: ns, Name: name, ClusterIP: ip, ClusterCIDR: "10.0.0.0/8",
			Ports: []ServicePort{{Name: "p80", Protocol: "tcp", Port: 80, TargetPort: 80, NodePort: nodePort}}}
	}
	got := nftBaseRules(NFTOptions{ServiceCIDR: "172.30.0.0/16", NodePortIPs: []string{"192.168.0.2"}})
	for _, c := range []struct {
		svc Service
		eps []string
	}{
		{one("ns1", "svc1", "172.30.0.41", 0), []string{"10.180.0.1"}},
		{one("ns3", "svc3", "172.30.0.43", 3003), []string{"10.180.0.3"}},
		{one("ns4", "svc4", "172.30.0.44", 0), []string{"10.180.0.5", "10.180.0.4"}},
		{one("ns6", "svc6", "172.30.0.46", 0), nil},
	} {
		text, err := NFTServiceRules(c.svc, c.eps)
		if err != nil {
			t.Fatal(err)
		}
		got += text
	}
	w, g := significant(kubeProxyNFT), significant(got)
	if strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Errorf("nft rules differ from kube-proxy's:\n%s", diff(strings.Join(w, "\n"), strings.Join(g, "\n")))
	}
}

func TestNFTRulesGolden(t *testing.T) {
	eps := []string{"10.244.0.2", "10.244.0.3", "10.244.0.10"}
	o := NFTOptions{ServiceCIDR: "10.96.0.0/12", NodePortIPs: []string{"10.200.0.1"}}
	for n := 0; n <= 3; n++ {
		got, err := NFTRules(labService(), eps[:n], o)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, filepath.Join("testdata", "endpoints-"+strconv.Itoa(n)+".nft"), got)
		if n > 0 {
			if c := strings.Count(got, "numgen random mod "+strconv.Itoa(n)+" vmap"); c != 3 {
				t.Errorf("n=%d: %d service chains pick among %d endpoints, want 3", n, c, n)
			}
		}
	}
	if _, err := NFTRules(labService(), []string{"10.0.0.300"}, o); err == nil {
		t.Error("bad endpoint accepted")
	}
}

// TestNFTRulesApply loads successive rulesets with the real nft in a
// throwaway network namespace (root only): each replaces the last whole.
func TestNFTRulesApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace (CI runs as root)")
	}
	for _, tool := range []string{"nft", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install nftables util-linux)", tool)
		}
	}
	o := NFTOptions{ServiceCIDR: "10.96.0.0/12", NodePortIPs: []string{"10.200.0.1"}}
	script := "set -e\n"
	for _, eps := range [][]string{nil, {"10.244.0.2"}, {"10.244.0.2", "10.244.0.3", "10.244.0.4"}, {"10.244.0.3"}} {
		text, err := NFTRules(labService(), eps, o)
		if err != nil {
			t.Fatal(err)
		}
		script += "nft -f - <<'EOF'\n" + text + "EOF\n"
	}
	script += "nft list table ip kube-proxy\n"
	out, err := exec.Command("unshare", "-n", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("nft -f in a new netns: %v\n%s", err, out)
	}
	s := string(out)
	// Only the last endpoint remains: one per port, 3 vmaps of 1.
	if strings.Count(s, "numgen random mod 1 vmap") != 3 || strings.Contains(s, "10.244.0.2") || strings.Contains(s, "10.244.0.4") {
		t.Errorf("ruleset after the last replace:\n%s", s)
	}
}
