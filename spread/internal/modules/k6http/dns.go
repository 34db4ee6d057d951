package k6http

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Name resolution as k6 does it (the `dns` option): every new connection
// resolves its host through a cache shared by the test's VUs, then dials
// ONE address picked by `select` among those `policy` allows. That choice
// matters here: a headless Service is many A records, and which one each
// connection dials decides the spread (first: every connection to one pod;
// random or roundRobin: spread like client-side load balancing). Lookups
// are net.Resolver's (Go's own resolver); the time they take is part of
// http_req_blocked, as in k6.

// dnsConfig is the `dns` option: {ttl, select, policy} or k6's CLI string
// "ttl=1m,select=roundRobin,policy=any". server is spread's: a resolver
// "host:port" used instead of the system's (/etc/resolv.conf).
type dnsConfig struct {
	TTL    time.Duration // 0: no caching; <0: forever ("inf")
	Select string        // first, random (default), roundRobin
	Policy string        // preferIPv4 (default), preferIPv6, onlyIPv4, onlyIPv6, any
	Server string
}

var defaultDNS = dnsConfig{TTL: 5 * time.Minute, Select: "random", Policy: "preferIPv4"}

func parseDNS(raw json.RawMessage) (dnsConfig, error) {
	c := defaultDNS
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	fields := map[string]string{}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, kv := range strings.Split(s, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return c, fmt.Errorf("option dns: %q: want key=value (ttl, select, policy)", kv)
			}
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	} else {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return c, fmt.Errorf("option dns: want {ttl, select, policy} or \"ttl=...,select=...,policy=...\": %w", err)
		}
		for k, v := range obj {
			switch x := v.(type) {
			case string:
				fields[k] = x
			case float64:
				fields[k] = fmt.Sprintf("%vms", x) // a number of milliseconds, as k6's durations
			default:
				return c, fmt.Errorf("option dns.%s: want a string, got %v", k, v)
			}
		}
	}
	for k, v := range fields {
		switch k {
		case "ttl":
			switch v {
			case "inf":
				c.TTL = -1
			case "0":
				c.TTL = 0
			default:
				d, err := time.ParseDuration(v)
				if err != nil {
					if ms, err2 := time.ParseDuration(v + "ms"); err2 == nil {
						d, err = ms, nil
					}
				}
				if err != nil || d < 0 {
					return c, fmt.Errorf("option dns.ttl: %q: want a duration (\"5m\"), \"0\" (no cache) or \"inf\"", v)
				}
				c.TTL = d
			}
		case "select":
			switch v {
			case "first", "random", "roundRobin":
				c.Select = v
			default:
				return c, fmt.Errorf("option dns.select: %q: want first, random or roundRobin", v)
			}
		case "policy":
			switch v {
			case "preferIPv4", "preferIPv6", "onlyIPv4", "onlyIPv6", "any":
				c.Policy = v
			default:
				return c, fmt.Errorf("option dns.policy: %q: want preferIPv4, preferIPv6, onlyIPv4, onlyIPv6 or any", v)
			}
		case "server":
			if _, _, err := net.SplitHostPort(v); err != nil {
				return c, fmt.Errorf("option dns.server: %q: want host:port: %v", v, err)
			}
			c.Server = v
		default:
			return c, fmt.Errorf("option dns: unknown key %q (ttl, select, policy, server)", k)
		}
	}
	return c, nil
}

// resolver is the test's shared DNS cache for one dns configuration.
type resolver struct {
	cfg dnsConfig
	net *net.Resolver

	mu    sync.Mutex
	cache map[string]*dnsEntry
}

type dnsEntry struct {
	addrs   []netip.Addr // after policy
	expires time.Time    // zero: never
	next    atomic.Uint64
}

var (
	resolversMu sync.Mutex
	resolvers   = map[dnsConfig]*resolver{}
)

// sharedResolver returns the resolver for cfg, one per process and
// configuration, so VUs share its cache and its round-robin turn as k6's
// do.
func sharedResolver(cfg dnsConfig) *resolver {
	resolversMu.Lock()
	defer resolversMu.Unlock()
	if r, ok := resolvers[cfg]; ok {
		return r
	}
	r := &resolver{cfg: cfg, net: net.DefaultResolver, cache: map[string]*dnsEntry{}}
	if cfg.Server != "" {
		server := cfg.Server
		var d net.Dialer
		r.net = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		}}
	}
	resolvers[cfg] = r
	return r
}

// maxDNSEntries bounds the cache; a script hitting ever new host names
// just starts over.
const maxDNSEntries = 4096

// resolve returns the address to dial for host (a name or an IP literal).
func (r *resolver) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, nil
	}
	now := time.Now()
	r.mu.Lock()
	e := r.cache[host]
	r.mu.Unlock()
	if e == nil || !e.expires.IsZero() && !now.Before(e.expires) {
		// Concurrent misses may each look up; the last one stays.
		addrs, err := r.net.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return netip.Addr{}, err
		}
		addrs = applyPolicy(addrs, r.cfg.Policy)
		if len(addrs) == 0 {
			return netip.Addr{}, &net.DNSError{Err: "no address allowed by dns.policy " + r.cfg.Policy, Name: host, IsNotFound: true}
		}
		e = &dnsEntry{addrs: addrs}
		if r.cfg.TTL >= 0 {
			e.expires = now.Add(r.cfg.TTL) // ttl 0: stale at once, kept for its round-robin turn
		}
		r.mu.Lock()
		if old := r.cache[host]; old != nil {
			e.next.Store(old.next.Load()) // keep the round-robin turn across refreshes
		}
		if len(r.cache) >= maxDNSEntries {
			r.cache = map[string]*dnsEntry{}
		}
		r.cache[host] = e
		r.mu.Unlock()
	}
	switch r.cfg.Select {
	case "first":
		return e.addrs[0], nil
	case "roundRobin":
		return e.addrs[(e.next.Add(1)-1)%uint64(len(e.addrs))], nil
	default:
		return e.addrs[rand.IntN(len(e.addrs))], nil
	}
}

// applyPolicy filters and orders addresses by the dns policy.
func applyPolicy(addrs []netip.Addr, policy string) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	switch policy {
	case "onlyIPv4":
		return v4
	case "onlyIPv6":
		return v6
	case "preferIPv6":
		if len(v6) > 0 {
			return v6
		}
		return v4
	case "any":
		return append(v4, v6...)
	default: // preferIPv4
		if len(v4) > 0 {
			return v4
		}
		return v6
	}
}

// dialAddr is the address a connection to addr ("host:port") dials: the
// hosts option first (k6's static overrides, which may change the port),
// then the dns resolver.
func (c *client) dialAddr(ctx context.Context, addr string) (string, error) {
	addr = c.cfg.resolveHost(addr)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, nil // let the dialer report it
	}
	ip, err := c.resolver.resolve(ctx, host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// maxLocalIPs bounds the expansion of the localIPs ranges.
const maxLocalIPs = 1 << 16

// parseLocalIPs reads k6's localIPs (--local-ips): a comma-separated list
// (or a JSON list) of addresses, ranges "10.0.0.2-10.0.0.9" and CIDRs
// "10.0.0.0/29", expanded in order. VUs take them in turn.
func parseLocalIPs(raw json.RawMessage) ([]netip.Addr, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var parts []string
	var s string
	if json.Unmarshal(raw, &s) == nil {
		parts = strings.Split(s, ",")
	} else if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, fmt.Errorf("option localIPs: want \"ip,ip-ip,cidr\" or a list: %w", err)
	}
	var out []netip.Addr
	add := func(a netip.Addr) error {
		if len(out) >= maxLocalIPs {
			return fmt.Errorf("option localIPs: more than %d addresses", maxLocalIPs)
		}
		out = append(out, a)
		return nil
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case strings.Contains(p, "/"):
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("option localIPs: %q: %v", p, err)
			}
			for a := pfx.Masked().Addr(); pfx.Contains(a); a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
		case strings.Contains(p, "-"):
			lo, hi, _ := strings.Cut(p, "-")
			from, err1 := netip.ParseAddr(strings.TrimSpace(lo))
			to, err2 := netip.ParseAddr(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || from.Is4() != to.Is4() || to.Less(from) {
				return nil, fmt.Errorf("option localIPs: %q: want a range FROM-TO of one family, FROM <= TO", p)
			}
			for a := from; a.IsValid() && !to.Less(a); a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
		default:
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("option localIPs: %q: %v", p, err)
			}
			if err := add(a); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
