package proxypod

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// srvDNS answers the SRV record Caddy's dynamic upstreams poll, and the
// A records of its targets. Caddy 2.6 applies a config change by starting
// a new server instance and letting the old one keep the connections it
// has, so a client on one long-lived connection (the whole point of the
// L7 row) would never see a backend added by a config PATCH — the tests
// show it. Dynamic upstreams are looked up per request instead, so the
// proxy's backend list follows the endpoints under a live connection, as
// a headless Service's DNS would drive it in a cluster.
type srvDNS struct {
	srv  *dns.Server
	addr string // host:port it answers on (UDP)
	zone string // e.g. "pods.proxypod.local."

	mu  sync.RWMutex
	bes []Backend
}

// srvName is the SRV name Caddy looks up.
func (d *srvDNS) srvName() string { return "_http._tcp." + d.zone }

func startSRVDNS(listen, zone string) (*srvDNS, error) {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("dns listen %s: %w", listen, err)
	}
	d := &srvDNS{addr: pc.LocalAddr().String(), zone: dns.Fqdn(zone)}
	mux := dns.NewServeMux()
	mux.HandleFunc(d.zone, d.answer)
	d.srv = &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	d.srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = d.srv.ActivateAndServe() }()
	<-started
	return d, nil
}

func (d *srvDNS) set(bs []Backend) {
	d.mu.Lock()
	d.bes = append(d.bes[:0], bs...)
	d.mu.Unlock()
}

func (d *srvDNS) target(i int) string { return "b" + strconv.Itoa(i) + "." + d.zone }

// answer serves SRV (one record per backend, equal weight) and the A
// records of the targets; a short TTL, as the lab's endpoints change.
func (d *srvDNS) answer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	d.mu.RLock()
	bes := d.bes
	for _, qq := range q.Question {
		name := strings.ToLower(qq.Name)
		switch {
		case qq.Qtype == dns.TypeSRV && name == d.srvName():
			for i, b := range bes {
				_, port, _ := net.SplitHostPort(b.Addr)
				p, _ := strconv.Atoi(port)
				m.Answer = append(m.Answer, &dns.SRV{
					Hdr:      dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 1},
					Priority: 10, Weight: 10, Port: uint16(p), Target: d.target(i)})
			}
		case qq.Qtype == dns.TypeA:
			for i, b := range bes {
				if name != d.target(i) {
					continue
				}
				host, _, _ := net.SplitHostPort(b.Addr)
				if ip := net.ParseIP(host).To4(); ip != nil {
					m.Answer = append(m.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip})
				}
			}
		}
	}
	d.mu.RUnlock()
	_ = w.WriteMsg(m)
}

func (d *srvDNS) close() { _ = d.srv.Shutdown() }
