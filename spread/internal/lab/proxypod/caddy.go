package proxypod

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// caddy runs Caddy 2.6 with its admin API on a unix socket. The
// client-facing server speaks h1, h2 and h3 on one port (TLS terminated by
// Caddy with the lab's certificate); one reverse_proxy route balances
// each request over the pods, found through dynamic SRV upstreams that
// this package answers itself (see srvDNS for why not a config PATCH).
type caddy struct {
	sock string
	cfg  Config
	hc   *http.Client
	dns  *srvDNS
}

func (c *caddy) config(cfg Config) ([]string, error) {
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.sock)
		},
	}, Timeout: 10 * time.Second}
	d, err := startSRVDNS(cfg.DNSListen, cfg.Name+".proxypod.local")
	if err != nil {
		return nil, err
	}
	c.dns = d
	resolver := map[string]any{"addresses": []string{"udp/" + d.addr}}
	policy := map[string]string{"roundrobin": "round_robin", "leastconn": "least_conn"}[cfg.Balance]
	transport := map[string]any{"protocol": "http", "keep_alive": map[string]any{"enabled": true},
		"resolver": resolver}
	if cfg.Upstream == "h2" {
		transport["versions"] = []string{"2"}
		transport["tls"] = map[string]any{"root_ca_pem_files": []string{cfg.CAFile}, "server_name": "localhost"}
	} else {
		transport["versions"] = []string{"1.1"}
	}
	doc := map[string]any{
		"admin":   map[string]any{"listen": "unix/" + c.sock, "origins": []string{"localhost"}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"tls": map[string]any{"certificates": map[string]any{
				"load_files": []map[string]any{{"certificate": cfg.CertFile, "key": cfg.KeyFile}}}},
			"http": map[string]any{"servers": map[string]any{"edge": map[string]any{
				"listen":          []string{cfg.Listen},
				"protocols":       []string{"h1", "h2", "h3"},
				"automatic_https": map[string]any{"disable": true},
				// A client dialing an IP sends no SNI, and over QUIC the
				// local address Caddy would match instead is the
				// wildcard: name the certificate (it holds localhost).
				"tls_connection_policies": []map[string]any{{"default_sni": "localhost"}},
				"routes": []map[string]any{{"handle": []map[string]any{{
					"handler": "reverse_proxy",
					// Looked up again every second: the lab's endpoints
					// reach the proxy within a second, as a short-TTL
					// headless Service would.
					"dynamic_upstreams": map[string]any{"source": "srv", "name": d.srvName(),
						"refresh": "1s", "resolver": resolver, "dial_timeout": "2s"},
					"load_balancing": map[string]any{"selection_policy": map[string]any{"policy": policy}},
					"transport":      transport,
				}}}},
			}}},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Dir, "caddy.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	return []string{"caddy", "run", "--config", path}, nil
}

func (c *caddy) ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/config/apps/http/servers/edge/listen", nil)
	return err
}

// set publishes bs in the SRV record and waits until Caddy's next refresh
// (1 s) has had time to pick it up, so the caller's "endpoints changed"
// event is true of the proxy when set returns.
func (c *caddy) set(ctx context.Context, bs []Backend) error {
	c.dns.set(bs)
	select {
	case <-time.After(1100 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *caddy) close() {
	if c.dns != nil {
		c.dns.close()
	}
}

func (c *caddy) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("admin %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
