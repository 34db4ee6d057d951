package dns

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func start(t *testing.T, ttl time.Duration) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("TCP port of the UDP one is taken: %v", err)
	}
	s, err := Serve(pc, l, ttl, "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRecords: A records with the TTL, updates seen at once, NXDOMAIN in
// the zone, REFUSED outside it, empty NOERROR for AAAA, over UDP and TCP.
func TestRecords(t *testing.T) {
	s := start(t, 5*time.Second)
	const svc, headless = "echo-server.spread.svc.cluster.local", "echo-server-headless.spread.svc.cluster.local"
	if err := s.Set(svc, []string{"10.96.0.10"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(headless, []string{"10.244.0.2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(headless, []string{"::1"}); err == nil {
		t.Error("IPv6 accepted")
	}
	query := func(net_, name string, qt uint16) *mdns.Msg {
		t.Helper()
		c := &mdns.Client{Net: net_, Timeout: 2 * time.Second}
		m := new(mdns.Msg)
		m.SetQuestion(mdns.Fqdn(name), qt)
		r, _, err := c.Exchange(m, s.Addr())
		if err != nil {
			t.Fatalf("%s %s: %v", net_, name, err)
		}
		return r
	}
	for _, n := range []string{"udp", "tcp"} {
		r := query(n, svc, mdns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.96.0.10" || r.Answer[0].Header().Ttl != 5 || !r.Authoritative {
			t.Errorf("%s: %v", n, r)
		}
	}
	if err := s.Set(headless, []string{"10.244.0.2", "10.244.0.3"}); err != nil {
		t.Fatal(err)
	}
	if r := query("udp", strings.ToUpper(headless), mdns.TypeA); len(r.Answer) != 2 {
		t.Errorf("after the update: %v", r.Answer)
	}
	if r := query("udp", headless, mdns.TypeAAAA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AAAA: %v", r)
	}
	if r := query("udp", "nope.spread.svc.cluster.local", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("unknown name in the zone: rcode %d", r.Rcode)
	}
	if r := query("udp", "example.com", mdns.TypeA); r.Rcode != mdns.RcodeRefused {
		t.Errorf("outside the zone: rcode %d", r.Rcode)
	}
	_ = s.Set(headless, nil)
	if r := query("udp", headless, mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("no ready pods: %v", r)
	}
}

// TestGoResolver: Go's own resolver (what grpc-go's dns resolver uses)
// pointed at the server gets the pod IPs.
func TestGoResolver(t *testing.T) {
	s := start(t, time.Second)
	_ = s.Set("echo-server-headless.spread.svc.cluster.local", []string{"10.244.0.7", "10.244.0.8"})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, "echo-server-headless.spread.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(addrs)
	if strings.Join(addrs, ",") != "10.244.0.7,10.244.0.8" {
		t.Errorf("addrs %v", addrs)
	}
}
