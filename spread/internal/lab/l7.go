package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/internal/lab/pods"
	"spread.dev/spread/internal/lab/proxypod"
)

// L7 proxy kinds of Config.L7Proxy.
const (
	L7HAProxy          = "haproxy"           // HAProxy, balance roundrobin
	L7HAProxyLeastConn = "haproxy-leastconn" // HAProxy, balance leastconn
	L7Caddy            = "caddy"             // Caddy: h1/h2/h3 over TLS in front, round_robin
)

// L7Info is what events.json says about the L7 proxy tier.
type L7Info struct {
	Kind     string   `json:"kind"`
	Balance  string   `json:"balance"`
	Upstream string   `json:"upstream"`
	Replicas int      `json:"replicas"`
	Pods     []string `json:"pods"`
	// CPUSeconds is the proxies' CPU time (user+system, from /proc) over
	// the whole run: counted apart from the echo-server pods' cgroups.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Flows is, per proxy pod, how many flows (client connections) the
	// Service sent it: the proxy tier is pinned per connection, as any
	// Service's endpoints are.
	Flows map[string]int64 `json:"flows,omitempty"`
}

// l7Tier is the proxy pods: the Service's endpoints are the proxies, and
// the echo-server pods are the proxies' backends. This is the shape of an
// ingress controller or a proxy Deployment in front of an app: the
// client's connections are pinned to a proxy pod (kube-proxy picks one per
// flow), the proxy picks a backend per request.
type l7Tier struct {
	info    L7Info
	specs   []pods.Spec // the proxy pods' addresses, the Service's endpoints
	proxies []*proxypod.Proxy
	mu      sync.Mutex // serialises SetBackends across proxies
	stopped bool       // the proxies are gone: the lab's teardown has nothing to tell them
}

func checkL7(c *Config) error {
	switch c.L7Proxy {
	case "":
		if c.L7ProxyReplicas != 0 || c.L7Upstream != "" {
			return errors.New("lab: --l7-proxy-replicas/--l7-upstream need --l7-proxy")
		}
		return nil
	case L7HAProxy, L7HAProxyLeastConn:
		if c.L7Upstream != "" && c.L7Upstream != "h1" {
			return fmt.Errorf("lab: --l7-upstream %s: HAProxy here speaks HTTP/1.1 keep-alive to the pods (want h1)", c.L7Upstream)
		}
	case L7Caddy:
		switch c.L7Upstream {
		case "", "h1", "h2":
		default:
			return fmt.Errorf("lab: --l7-upstream %q: want h1 or h2", c.L7Upstream)
		}
	default:
		return fmt.Errorf("lab: --l7-proxy %q: want haproxy, haproxy-leastconn or caddy", c.L7Proxy)
	}
	if c.L7ProxyReplicas == 0 {
		c.L7ProxyReplicas = 1
	}
	if c.L7ProxyReplicas < 0 || c.L7ProxyReplicas > 8 {
		return fmt.Errorf("lab: --l7-proxy-replicas %d: want 1..8", c.L7ProxyReplicas)
	}
	if c.L7Upstream == "" {
		c.L7Upstream = "h1"
	}
	return nil
}

// startL7 starts the proxy pods in namespaces of their own on the pod
// network and makes them the Service's endpoints. Called before the
// echo-server pods start: they reach the proxies through syncEndpoints.
func (l *lab) startL7(ctx context.Context) error {
	if l.cfg.L7Proxy == "" {
		return nil
	}
	ns, ok := l.svc.(*nodeService)
	if !ok {
		return errors.New("lab: --l7-proxy needs --proxy iptables or nftables (root): proxy pods live in network namespaces")
	}
	t := &l7Tier{info: L7Info{Kind: l.cfg.L7Proxy, Upstream: l.cfg.L7Upstream, Replicas: l.cfg.L7ProxyReplicas}}
	kind, balance := proxypod.HAProxy, "roundrobin"
	switch l.cfg.L7Proxy {
	case L7HAProxyLeastConn:
		balance = "leastconn"
	case L7Caddy:
		kind = proxypod.Caddy
	}
	t.info.Balance = balance
	l.l7 = t // set first: stopL7 releases whatever started
	for i := 1; i <= l.cfg.L7ProxyReplicas; i++ {
		name := "proxy-" + strconv.Itoa(i)
		spec, err := ns.nextSpec(name)
		if err != nil {
			return err
		}
		ns.podMu.Lock()
		pns := ns.podNS[name]
		ns.podMu.Unlock()
		listen := net.JoinHostPort("0.0.0.0", strconv.Itoa(podHTTPPort))
		if kind == proxypod.Caddy {
			listen = ":" + strconv.Itoa(podHTTPSPort) // TCP (h1, h2) and UDP (h3)
		}
		cfg := proxypod.Config{Kind: kind, Name: name, Balance: balance, Listen: listen,
			CertFile: l.certFile, KeyFile: l.keyFile, CAFile: l.caFile, Upstream: l.cfg.L7Upstream,
			Dir: filepath.Join(l.cfg.OutDir, "proxies", name), Wrap: pns.Wrap(nil),
			// Caddy's SRV answers come from this process: the socket is
			// made inside the proxy's namespace (pns.Do), on its address.
			DNSListen: net.JoinHostPort(spec.IP, "0")}
		var p *proxypod.Proxy
		err = pns.Do(func() error {
			var serr error
			p, serr = proxypod.Start(ctx, cfg)
			return serr
		})
		if err != nil {
			return fmt.Errorf("lab: proxy pod %s: %w", name, err)
		}
		t.proxies = append(t.proxies, p)
		t.specs = append(t.specs, spec)
		t.info.Pods = append(t.info.Pods, name)
		l.record("proxy-started", name, fmt.Sprintf("%s balance %s upstream %s at %s", kind, balance, l.cfg.L7Upstream, spec.IP))
	}
	l.res.L7 = &t.info
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ns.setEndpoints(sctx, t.specs, nil); err != nil {
		return err
	}
	return nil
}

// setBackends points every proxy at the ready pods (the hook of
// syncEndpoints when a proxy tier runs).
func (t *l7Tier) setBackends(ctx context.Context, ready []pods.Spec, upstream string) error {
	bs := make([]proxypod.Backend, 0, len(ready))
	for _, p := range ready {
		port := p.HTTPPort
		if upstream == "h2" {
			port = p.HTTPSPort
		}
		bs = append(bs, proxypod.Backend{Name: p.Name, Addr: net.JoinHostPort(p.IP, strconv.Itoa(port))})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(t.proxies))
	for i, p := range t.proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.SetBackends(ctx, bs)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *l7Tier) backendNames(ready []pods.Spec) string {
	n := make([]string, len(ready))
	for i, p := range ready {
		n[i] = p.Name
	}
	return strings.Join(n, ",")
}

// stopL7 reads the proxies' CPU time and stops them (before the pods and
// namespaces go).
func (l *lab) stopL7() {
	t := l.l7
	if t == nil {
		return
	}
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	var flows map[string]int64
	if ns, ok := l.svc.(*nodeService); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if f, err := ns.newFlows(ctx); err == nil {
			flows = map[string]int64{}
			for _, name := range t.info.Pods {
				flows[name] = f[name] - l.flowOffset[name]
			}
		}
		cancel()
	}
	var cpu float64
	for _, p := range t.proxies {
		if v, err := p.CPUSeconds(); err == nil {
			cpu += v
		}
		_ = p.Stop()
	}
	l.mu.Lock()
	t.info.CPUSeconds = cpu
	t.info.Flows = flows
	l.mu.Unlock()
}
