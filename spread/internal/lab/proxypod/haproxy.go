package proxypod

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// haproxy drives HAProxy 2.6 through its runtime API (a stats socket at
// level admin). The backend has a fixed number of server slots, all in
// maintenance at start; SetBackends points slot i at endpoint i ("set
// server ... addr") and puts the rest back into maintenance, which is how
// HAProxy's documentation suggests growing a backend without a reload.
type haproxy struct {
	sock string
	used int // slots in service after the last set
}

func (h *haproxy) config(cfg Config) ([]string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by spread lab (proxypod): %s
global
  stats socket %s level admin
  # the lab's RLIMIT_NOFILE is often 20000; HAProxy wants 2*maxconn+spare
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  # per-request balancing over a pool of keep-alive backend connections
  # shared by every client connection
  http-reuse always
  option http-keep-alive

frontend edge
  bind %s
  default_backend pods

backend pods
  balance %s
`, cfg.Name, h.sock, cfg.Listen, cfg.Balance)
	for i := 1; i <= cfg.Slots; i++ {
		// A placeholder address; the runtime API sets the real one.
		fmt.Fprintf(&b, "  server s%d 127.0.0.1:1 disabled\n", i)
	}
	path := filepath.Join(cfg.Dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []string{"haproxy", "-db", "-f", path}, nil
}

func (h *haproxy) ready(ctx context.Context) error {
	_, err := h.cmd(ctx, "show info")
	return err
}

func (h *haproxy) set(ctx context.Context, bs []Backend) error {
	for i, be := range bs {
		host, port, err := net.SplitHostPort(be.Addr)
		if err != nil {
			return fmt.Errorf("backend %s: %w", be.Name, err)
		}
		slot := fmt.Sprintf("pods/s%d", i+1)
		if out, err := h.cmd(ctx, fmt.Sprintf("set server %s addr %s port %s", slot, host, port)); err != nil {
			return err
		} else if strings.Contains(out, "No such") || strings.Contains(out, "Require") {
			return fmt.Errorf("set server %s: %s", slot, strings.TrimSpace(out))
		}
		if _, err := h.cmd(ctx, "set server "+slot+" state ready"); err != nil {
			return err
		}
	}
	for i := len(bs); i < h.used; i++ {
		// maint: no new request goes there; requests in flight finish.
		if _, err := h.cmd(ctx, fmt.Sprintf("set server pods/s%d state maint", i+1)); err != nil {
			return err
		}
	}
	h.used = len(bs)
	return nil
}

func (h *haproxy) close() {}

// cmd sends one runtime API command and returns HAProxy's answer (the
// socket closes after each answer in non-interactive mode).
func (h *haproxy) cmd(ctx context.Context, line string) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", h.sock)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	return readAll(c)
}
