// Package dns is the lab's cluster DNS: the A records a Kubernetes cluster
// DNS (CoreDNS) gives a Service — its ClusterIP — and a headless Service —
// the IPs of its ready pods, changed on every endpoint change — served
// with github.com/miekg/dns over UDP and TCP, with a TTL (CoreDNS caches
// 5 s by default). It answers only the names it holds: no recursion.
package dns

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// DefaultTTL is CoreDNS's default cache TTL, what a client sees.
const DefaultTTL = 5 * time.Second

// Server answers A queries for the names it was given.
type Server struct {
	ttl  uint32
	addr string

	mu      sync.RWMutex
	records map[string][]net.IP // by lower-case FQDN ("name.")
	zones   []string            // suffixes we are authoritative for: NXDOMAIN there

	udp, tcp *mdns.Server
	done     chan error
}

// Serve answers queries on pc (UDP) and l (TCP) until Close; zones are the
// domains it owns (e.g. "cluster.local"): unknown names there get
// NXDOMAIN, names elsewhere REFUSED.
func Serve(pc net.PacketConn, l net.Listener, ttl time.Duration, zones ...string) (*Server, error) {
	if ttl < 0 {
		return nil, fmt.Errorf("dns: negative TTL %v", ttl)
	}
	s := &Server{ttl: uint32(ttl / time.Second), addr: pc.LocalAddr().String(), records: map[string][]net.IP{}, done: make(chan error, 2)}
	for _, z := range zones {
		s.zones = append(s.zones, mdns.Fqdn(strings.ToLower(z)))
	}
	h := mdns.HandlerFunc(s.serveDNS)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h}
	s.tcp = &mdns.Server{Listener: l, Handler: h}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { s.done <- s.udp.ActivateAndServe() }()
	go func() { s.done <- s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-s.done:
			_ = s.Close()
			return nil, fmt.Errorf("dns: serve: %w", err)
		case <-time.After(5 * time.Second):
			_ = s.Close()
			return nil, errors.New("dns: server did not start within 5s")
		}
	}
	return s, nil
}

// Addr is the UDP address the server answers on.
func (s *Server) Addr() string { return s.addr }

// Set replaces the A records of name (no IPs: the name exists with no
// address, as a headless Service without ready pods: NOERROR, empty).
func (s *Server) Set(name string, ips []string) error {
	parsed := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		p := net.ParseIP(ip).To4()
		if p == nil {
			return fmt.Errorf("dns: %s: %q is not an IPv4 address", name, ip)
		}
		parsed = append(parsed, p)
	}
	s.mu.Lock()
	s.records[mdns.Fqdn(strings.ToLower(name))] = parsed
	s.mu.Unlock()
	return nil
}

// Close stops serving.
func (s *Server) Close() error {
	return errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
}

func (s *Server) serveDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.RLock()
	ips, known := s.records[name]
	s.mu.RUnlock()
	switch {
	case !known && s.owns(name):
		m.Rcode = mdns.RcodeNameError
	case !known:
		m.Rcode = mdns.RcodeRefused // not a recursive resolver
	case q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY:
		for _, ip := range ips {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: s.ttl},
				A:   ip,
			})
		}
	}
	// Other types of a known name (AAAA, TXT, SRV): NOERROR with no
	// answer, so resolvers asking for AAAA too settle on the A records.
	_ = w.WriteMsg(m)
}

func (s *Server) owns(name string) bool {
	for _, z := range s.zones {
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}
