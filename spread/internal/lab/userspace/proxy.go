// Package userspace is the lab's Service for unprivileged runs: an L4 proxy
// with kube-proxy's iptables semantics. Every new TCP connection and every
// new UDP 5-tuple goes to a ready endpoint chosen by the scheduler (random,
// as iptables' statistic match, by default); a UDP flow then stays pinned
// until it idles out (conntrack's 30 s, 120 s once a reply was seen) or its
// endpoint is removed.
//
// The "rr" and "lc" schedulers emulate IPVS's round-robin (kube-proxy's IPVS
// default) and least-connection: this kernel has no ip_vs, so they are
// implemented here, per new flow, with IPVS's rules (rr: the next endpoint
// after the last one chosen; lc: the endpoint with the fewest active flows,
// the first of those on a tie).
package userspace

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default flow timeouts, those of conntrack (nf_conntrack_udp_timeout{,_stream}).
const (
	DefaultUDPTimeout       = 30 * time.Second
	DefaultUDPStreamTimeout = 120 * time.Second
)

// Port is one Service port: a TCP listener or a UDP socket the proxy serves.
type Port struct {
	Name     string
	Listener net.Listener // TCP ports
	Packet   *net.UDPConn // UDP ports
}

// Endpoint is one ready pod: its address for every Service port name.
type Endpoint struct {
	Pod   string
	Addrs map[string]string // port name -> "ip:port"
}

// Schedulers: how a new flow picks its endpoint.
const (
	SchedRandom     = "random" // iptables/nftables mode: uniform per flow
	SchedRoundRobin = "rr"     // IPVS rr (kube-proxy's IPVS default)
	SchedLeastConn  = "lc"     // IPVS lc: fewest active flows
)

// Config sets the proxy's ports, scheduler and flow timeouts (zero =
// conntrack's).
type Config struct {
	Ports                        []Port
	Scheduler                    string // "" = random
	UDPTimeout, UDPStreamTimeout time.Duration
}

// CheckScheduler rejects an unknown scheduler name.
func CheckScheduler(s string) error {
	switch s {
	case "", SchedRandom, SchedRoundRobin, SchedLeastConn:
		return nil
	}
	return fmt.Errorf("userspace: scheduler %q (want random, rr or lc)", s)
}

// Proxy forwards Service ports to endpoints; Close stops everything it runs.
type Proxy struct {
	cfg Config
	wg  sync.WaitGroup

	mu        sync.Mutex
	endpoints []Endpoint
	flows     map[string]*udpFlow // key: port name + client address
	tcpConns  map[net.Conn]struct{}
	active    map[string]int   // pod -> open TCP connections + live UDP flows
	newFlows  map[string]int64 // pod -> flows ever sent to it
	rrNext    map[string]int   // port -> next round-robin index
	closed    bool
	done      chan struct{}
}

type udpFlow struct {
	port     string
	pod      string
	backend  *net.UDPConn
	lastSeen time.Time
	replied  bool
}

// Start begins serving every port; ownership of the sockets moves to the proxy.
func Start(cfg Config) (*Proxy, error) {
	if cfg.UDPTimeout <= 0 {
		cfg.UDPTimeout = DefaultUDPTimeout
	}
	if cfg.UDPStreamTimeout <= 0 {
		cfg.UDPStreamTimeout = DefaultUDPStreamTimeout
	}
	if err := CheckScheduler(cfg.Scheduler); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, flows: map[string]*udpFlow{}, tcpConns: map[net.Conn]struct{}{}, done: make(chan struct{}),
		active: map[string]int{}, newFlows: map[string]int64{}, rrNext: map[string]int{}}
	for _, port := range cfg.Ports {
		switch {
		case port.Listener != nil:
			p.wg.Add(1)
			go p.serveTCP(port)
		case port.Packet != nil:
			p.wg.Add(1)
			go p.serveUDP(port)
		default:
			return nil, fmt.Errorf("userspace: port %s has no socket", port.Name)
		}
	}
	p.wg.Add(1)
	go p.expireFlows()
	return p, nil
}

// SetEndpoints replaces the ready endpoints. UDP flows to endpoints no longer
// listed are forgotten at once (kube-proxy's conntrack cleanup); TCP
// connections already open stay, as conntrack keeps them.
func (p *Proxy) SetEndpoints(eps []Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endpoints = append([]Endpoint(nil), eps...)
	live := map[string]bool{}
	for _, e := range eps {
		live[e.Pod] = true
	}
	for k, f := range p.flows {
		if !live[f.pod] {
			p.dropFlow(k, f)
		}
	}
}

// dropFlow forgets a UDP flow (p.mu held).
func (p *Proxy) dropFlow(key string, f *udpFlow) {
	f.backend.Close()
	delete(p.flows, key)
	p.active[f.pod]--
}

// NewFlows returns how many flows (TCP connections and UDP 5-tuples) each
// pod has been given so far.
func (p *Proxy) NewFlows() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int64, len(p.newFlows))
	for k, v := range p.newFlows {
		m[k] = v
	}
	return m
}

// UDPFlows counts the UDP flows currently tracked, per pod.
func (p *Proxy) UDPFlows() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]int{}
	for _, f := range p.flows {
		m[f.pod]++
	}
	return m
}

// Close stops listening, drops every flow and connection, and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	for _, port := range p.cfg.Ports {
		if port.Listener != nil {
			port.Listener.Close()
		}
		if port.Packet != nil {
			port.Packet.Close()
		}
	}
	for k, f := range p.flows {
		p.dropFlow(k, f)
	}
	for c := range p.tcpConns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// pick chooses the endpoint of a new flow on a port ("" when none is ready)
// and counts the flow as active on it (p.mu held).
func (p *Proxy) pick(port string) (pod, addr string) {
	var cands []Endpoint
	for _, e := range p.endpoints {
		if e.Addrs[port] != "" {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return "", ""
	}
	var e Endpoint
	switch p.cfg.Scheduler {
	case SchedRoundRobin:
		i := p.rrNext[port] % len(cands)
		p.rrNext[port] = i + 1
		e = cands[i]
	case SchedLeastConn:
		e = cands[0]
		for _, c := range cands[1:] {
			if p.active[c.Pod] < p.active[e.Pod] {
				e = c
			}
		}
	default:
		e = cands[rand.IntN(len(cands))]
	}
	p.active[e.Pod]++
	p.newFlows[e.Pod]++
	return e.Pod, e.Addrs[port]
}

func (p *Proxy) serveTCP(port Port) {
	defer p.wg.Done()
	for {
		c, err := port.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		pod, addr := p.pick(port.Name)
		p.tcpConns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.relayTCP(c, pod, addr)
	}
}

func (p *Proxy) relayTCP(client net.Conn, pod, addr string) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.tcpConns, client)
		if addr != "" {
			p.active[pod]--
		}
		p.mu.Unlock()
		client.Close()
	}()
	if addr == "" {
		return // no endpoint: refuse, like a Service without endpoints
	}
	backend, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		backend.Close()
		return
	}
	p.tcpConns[backend] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.tcpConns, backend)
		p.mu.Unlock()
		backend.Close()
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(backend, client)
		closeWrite(backend)
	}()
	_, _ = io.Copy(client, backend)
	closeWrite(client)
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (p *Proxy) serveUDP(port Port) {
	defer p.wg.Done()
	buf := make([]byte, 64*1024)
	for {
		n, client, err := port.Packet.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		key := port.Name + "|" + client.String()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		f := p.flows[key]
		if f == nil {
			pod, addr := p.pick(port.Name)
			if addr == "" {
				p.mu.Unlock()
				continue // dropped, as with no DNAT target
			}
			raddr, err := net.ResolveUDPAddr("udp", addr)
			var backend *net.UDPConn
			if err == nil {
				backend, err = net.DialUDP("udp", nil, raddr)
			}
			if err != nil {
				p.active[pod]--
				p.mu.Unlock()
				continue
			}
			f = &udpFlow{port: port.Name, pod: pod, backend: backend}
			p.flows[key] = f
			p.wg.Add(1)
			go p.relayReplies(port.Packet, client, key, f)
		}
		f.lastSeen = time.Now()
		backend := f.backend
		p.mu.Unlock()
		_, _ = backend.Write(buf[:n])
	}
}

// relayReplies copies one flow's replies back to its client until the flow
// is forgotten (its backend socket closed).
func (p *Proxy) relayReplies(front *net.UDPConn, client *net.UDPAddr, key string, f *udpFlow) {
	defer p.wg.Done()
	buf := make([]byte, 64*1024)
	for {
		n, err := f.backend.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP unreachable from a dead backend: keep the flow, as
			// conntrack would, until it idles out or is deleted.
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		if p.flows[key] != f {
			p.mu.Unlock()
			return
		}
		f.lastSeen = time.Now()
		f.replied = true
		p.mu.Unlock()
		_, _ = front.WriteToUDP(buf[:n], client)
	}
}

func (p *Proxy) expireFlows() {
	defer p.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			p.mu.Lock()
			for k, f := range p.flows {
				limit := p.cfg.UDPTimeout
				if f.replied {
					limit = p.cfg.UDPStreamTimeout
				}
				if now.Sub(f.lastSeen) > limit {
					p.dropFlow(k, f)
				}
			}
			p.mu.Unlock()
		}
	}
}

// ListenPair opens a TCP listener and a UDP socket on the same free port of
// host, as a Service's https (tcp) and quic (udp) ports share 443.
func ListenPair(host string) (net.Listener, *net.UDPConn, error) {
	var lastErr error
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("userspace: listen tcp: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: port})
		if err == nil {
			return l, u, nil
		}
		lastErr = err
		l.Close()
	}
	return nil, nil, fmt.Errorf("userspace: no port free for both tcp and udp on %s: %w", host, lastErr)
}

// FreePort returns a port number free for TCP and UDP on host right now,
// for a pod to bind a moment later. It is drawn at random below the kernel's
// ephemeral range, so the window between this check and the pod's bind is not
// raced by every other process asking the kernel for a port (`:0` binds and
// outgoing connections take ports from the ephemeral range).
func FreePort(host string) (int, error) {
	lo, hi := 10000, ephemeralLow()
	if hi-lo >= 1000 {
		for i := 0; i < 100; i++ {
			port := lo + rand.IntN(hi-lo)
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				continue
			}
			u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: port})
			l.Close()
			if err != nil {
				continue
			}
			u.Close()
			return port, nil
		}
	}
	l, u, err := ListenPair(host)
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u.Close()
	return port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// PortOf returns the port number of a "host:port" address (0 if malformed).
func PortOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
