package kubeproxy

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Values printed by kube-proxy's own tests for ns1/svc1:p80 (tcp) and its
// endpoint 10.180.0.1:80: our hashing must produce the same chain names.
func TestChainNamesMatchKubeProxy(t *testing.T) {
	tests := []struct{ got, want string }{
		{ServiceChain("ns1/svc1:p80", "TCP"), "KUBE-SVC-XPGD46QRK7WJZT7O"},
		{EndpointChain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ"},
		{ExternalChain("ns1/svc1:p80", "tcp"), "KUBE-EXT-XPGD46QRK7WJZT7O"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestProbability(t *testing.T) {
	tests := []struct {
		n, i int
		want string
	}{
		{2, 0, "0.5000000000"},
		{3, 0, "0.3333333333"},
		{3, 1, "0.5000000000"},
		{4, 0, "0.2500000000"},
	}
	for _, tt := range tests {
		if got := Probability(tt.n, tt.i); got != tt.want {
			t.Errorf("Probability(%d,%d) = %s, want %s", tt.n, tt.i, got, tt.want)
		}
	}
}

// kube-proxy's own test expectation (1 endpoint, ClusterIP only), with the
// newer "-> endpoint" comment on the KUBE-SVC jump and --random-fully.
const kubeProxyOneEndpoint = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.20.30.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 10.20.30.41 --dport 80 ! -s 10.0.0.0/24 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`

func TestRulesMatchKubeProxyTestCase(t *testing.T) {
	svc := Service{Namespace: "ns1", Name: "svc1", ClusterIP: "10.20.30.41", ClusterCIDR: "10.0.0.0/24",
		Ports: []ServicePort{{Name: "p80", Protocol: "tcp", Port: 80, TargetPort: 80}}}
	got, _, err := Rules(svc, []string{"10.180.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != kubeProxyOneEndpoint {
		t.Errorf("rules differ from kube-proxy's:\n%s", diff(kubeProxyOneEndpoint, got))
	}
}

// LabService is the Service the lab programs (kept here so golden files
// show exactly what a run writes).
func labService() Service {
	return Service{Namespace: "default", Name: "echo-server", ClusterIP: "10.96.0.10", ClusterCIDR: "10.244.0.0/16",
		Ports: []ServicePort{
			{Name: "http", Protocol: "tcp", Port: 80, TargetPort: 5080, NodePort: 30080},
			{Name: "https", Protocol: "tcp", Port: 443, TargetPort: 5443, NodePort: 30443},
			{Name: "quic", Protocol: "udp", Port: 443, TargetPort: 5443, NodePort: 30443},
		}}
}

func TestRulesGolden(t *testing.T) {
	eps := []string{"10.244.0.2", "10.244.0.3", "10.244.0.10"}
	var prev []string
	for n := 1; n <= 3; n++ {
		got, chains, err := Rules(labService(), eps[:n], nil)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, filepath.Join("testdata", "endpoints-"+string(rune('0'+n))+".rules"), got)
		// 3 ports: one SVC and one EXT chain each, n SEP chains each.
		if want := 3 * (2 + n); len(chains) != want {
			t.Errorf("n=%d: %d chains, want %d", n, len(chains), want)
		}
		prev = chains
	}
	// Scale 3 -> 1: the two removed endpoints' chains are flushed and deleted.
	got, _, err := Rules(labService(), eps[:1], prev)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "scale-down-3-to-1.rules"), got)
	if c := strings.Count(got, "\n-X KUBE-SEP-"); c != 6 {
		t.Errorf("scale-down deletes %d SEP chains, want 6", c)
	}
}

func TestRulesRejectsBadInput(t *testing.T) {
	if _, _, err := Rules(Service{ClusterIP: "nope"}, nil, nil); err == nil {
		t.Error("bad cluster IP accepted")
	}
	if _, _, err := Rules(labService(), []string{"10.0.0.300"}, nil); err == nil {
		t.Error("bad endpoint accepted")
	}
	bad := labService()
	bad.Ports[0].Protocol = "sctp2"
	if _, _, err := Rules(bad, []string{"10.0.0.3"}, nil); err == nil {
		t.Error("bad protocol accepted")
	}
}

// TestRulesApply feeds the generated text to the real iptables-restore inside
// a throwaway network namespace (root only).
func TestRulesApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace (CI runs as root)")
	}
	for _, tool := range []string{"iptables-restore", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install iptables util-linux)", tool)
		}
	}
	var prev []string
	script := "set -e\n"
	write := func(text string) {
		script += "iptables-restore --noflush <<'EOF'\n" + text + "EOF\n"
	}
	write(Bootstrap())
	for _, eps := range [][]string{{"10.244.0.2"}, {"10.244.0.2", "10.244.0.3", "10.244.0.4"}, {"10.244.0.3"}, nil} {
		text, chains, err := Rules(labService(), eps, prev)
		if err != nil {
			t.Fatal(err)
		}
		prev = chains
		write(text)
	}
	script += "iptables-save -t nat\n"
	out, err := exec.Command("unshare", "-n", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-restore in a new netns: %v\n%s", err, out)
	}
	// After the last write (no endpoints) no per-service chain may remain.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, ":KUBE-SVC-") || strings.HasPrefix(line, ":KUBE-SEP-") || strings.HasPrefix(line, ":KUBE-EXT-") {
			t.Errorf("stale chain left: %s", line)
		}
	}
	if !strings.Contains(string(out), "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES") {
		t.Errorf("bootstrap jump missing:\n%s", out)
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", path, err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n%s", path, diff(string(want), got))
	}
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
		}
	}
	return b.String()
}
