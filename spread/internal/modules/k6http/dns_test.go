package k6http

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spread.dev/spread/ext/httpkit"
)

// dnsServer is a real DNS server (github.com/miekg/dns) on loopback UDP
// that answers NAME with A records, like a headless Service's, after
// delay, and counts the queries it answered.
type dnsServer struct {
	addr    string
	queries atomic.Int64
}

func startDNS(t testing.TB, name string, ips []string, delay time.Duration) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dnsServer{addr: pc.LocalAddr().String()}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && strings.EqualFold(q.Question[0].Name, dns.Fqdn(name)) {
			ds.queries.Add(1)
			if q.Question[0].Qtype == dns.TypeA {
				for _, ip := range ips {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeA,
						Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(ip)})
				}
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		time.Sleep(delay)
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ds
}

// podServers starts one HTTP server per loopback address, all on the
// same port (DNS gives addresses, the URL one port), each answering with
// its address as X-Served-By.
func podServers(t testing.TB, ips []string) (port int, perPod func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	for attempt := 0; attempt < 20; attempt++ {
		var ls []net.Listener
		ok := true
		for i, ip := range ips {
			addr := net.JoinHostPort(ip, fmt.Sprint(port))
			if i == 0 {
				addr = net.JoinHostPort(ip, "0")
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			if i == 0 {
				port = l.Addr().(*net.TCPAddr).Port
			}
			ls = append(ls, l)
		}
		if !ok {
			for _, l := range ls {
				_ = l.Close()
			}
			port = 0
			continue // the port was taken on another address: try another
		}
		for i, l := range ls {
			pod := ips[i]
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				counts[pod]++
				mu.Unlock()
				w.Header().Set("X-Served-By", pod)
				_, _ = fmt.Fprint(w, r.RemoteAddr)
			})}
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { _ = srv.Close() })
		}
		return port, func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]int{}
			for k, v := range counts {
				out[k] = v
			}
			return out
		}
	}
	t.Fatal("no port free on every loopback address")
	return 0, nil
}

var podIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}

func TestDNSSelectAndTTL(t *testing.T) {
	port, perPod := podServers(t, podIPs)
	ds := startDNS(t, "svc.test", podIPs, 30*time.Millisecond)
	url := fmt.Sprintf("http://svc.test:%d/", port)

	// roundRobin, no cache: every new connection resolves (30 ms, in
	// http_req_blocked) and takes the next address.
	vu := newVU(t, map[string]any{"noConnectionReuse": true,
		"dns": map[string]any{"server": ds.addr, "select": "roundRobin", "ttl": "0"}})
	run(t, vu, fmt.Sprintf(`for (var i = 0; i < 8; i++) { var r = http.get(%q); if (r.status !== 200) throw new Error(r.error); }`, url))
	got := perPod()
	for _, ip := range podIPs {
		if got[ip] != 2 {
			t.Fatalf("roundRobin: per pod %v, want 2 each", got)
		}
	}
	if q := ds.queries.Load(); q < 8 {
		t.Fatalf("ttl 0: %d DNS queries for 8 connections", q)
	}
	for _, s := range vu.SamplesOf("http_req_blocked") {
		if s.Value < 25 {
			t.Fatalf("http_req_blocked %.1f ms does not hold the 30 ms lookup", s.Value)
		}
	}

	// first, cached: one lookup, every connection to the first address.
	before := ds.queries.Load()
	vu2 := newVU(t, map[string]any{"noConnectionReuse": true,
		"dns": fmt.Sprintf("ttl=1m,select=first,policy=onlyIPv4,server=%s", ds.addr)})
	run(t, vu2, fmt.Sprintf(`for (var i = 0; i < 6; i++) http.get(%q);`, url))
	if got2 := perPod(); got2["127.0.0.2"] != 2+6 {
		t.Fatalf("select first: per pod %v, want 6 more on 127.0.0.2", got2)
	}
	if q := ds.queries.Load() - before; q > 4 { // one lookup: A and AAAA (12 queries uncached)
		t.Fatalf("ttl 1m: %d DNS queries for 6 connections, want one lookup", q)
	}

	// onlyIPv6 with only A records: k6's no-IP error.
	vu3 := newVU(t, map[string]any{"dns": map[string]any{"server": ds.addr, "policy": "onlyIPv6"}})
	code := run(t, vu3, fmt.Sprintf(`http.get(%q).error_code`, url)).ToInteger()
	if code != httpkit.CodeDNSNoIP {
		t.Fatalf("onlyIPv6 without AAAA: error_code %d, want %d", code, httpkit.CodeDNSNoIP)
	}
}

func TestDNSOptionErrors(t *testing.T) {
	for _, bad := range []string{`{"select":"nearest"}`, `{"policy":"v4"}`, `{"ttl":"soon"}`, `"ttl"`, `{"server":"nohost"}`} {
		if _, err := parseDNS([]byte(bad)); err == nil {
			t.Errorf("dns %s: no error", bad)
		}
	}
	ips, err := parseLocalIPs([]byte(`"127.0.0.2-127.0.0.4,10.0.0.0/31,::1"`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "10.0.0.0", "10.0.0.1", "::1"}
	if len(ips) != len(want) {
		t.Fatalf("localIPs %v, want %v", ips, want)
	}
	for i, a := range ips {
		if a != netip.MustParseAddr(want[i]) {
			t.Fatalf("localIPs %v, want %v", ips, want)
		}
	}
	for _, bad := range []string{`"127.0.0.9-127.0.0.2"`, `"10.0.0.0/99"`, `"nope"`, `"127.0.0.1-::1"`} {
		if _, err := parseLocalIPs([]byte(bad)); err == nil {
			t.Errorf("localIPs %s: no error", bad)
		}
	}
}
