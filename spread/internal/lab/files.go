package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"spread.dev/echo-server/certs"
)

// findEchoServer resolves the echo-server binary: the configured path, the
// one next to the spread binary, then PATH ("" if none).
func findEchoServer(cfg Config) string {
	if cfg.EchoServer != "" {
		return cfg.EchoServer
	}
	for _, exe := range []string{cfg.Spread, selfExe()} {
		if exe == "" {
			continue
		}
		p := filepath.Join(filepath.Dir(exe), "echo-server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("echo-server"); err == nil {
		return p
	}
	return ""
}

func selfExe() string {
	p, _ := os.Executable()
	return p
}

// prepareFiles writes the lab CA and server certificate (and the shared QUIC
// keys) under OutDir/certs.
func (l *lab) prepareFiles(ctx context.Context) error {
	l.echoServer = findEchoServer(l.cfg)
	if l.cfg.PodCommand == "" && l.echoServer == "" {
		return fmt.Errorf("lab: echo-server binary not found (--echo-server PATH, next to %s, or in PATH)", l.cfg.Spread)
	}
	dir := filepath.Join(l.cfg.OutDir, "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: certs: %w", err)
	}
	l.caFile = filepath.Join(dir, "ca.pem")
	l.certFile = filepath.Join(dir, "cert.crt")
	l.keyFile = filepath.Join(dir, "cert.key")
	hosts := l.svc.certHosts()
	if l.echoServer != "" {
		if err := runTool(ctx, l.echoServer, "certs", "--dir", dir, "--hosts", strings.Join(hosts, ",")); err != nil {
			return fmt.Errorf("lab: certs: %w", err)
		}
		if l.cfg.SharedQUICKeys {
			l.quicKeys = filepath.Join(dir, "quic.keys")
			if err := runTool(ctx, l.echoServer, "keys", "--out", l.quicKeys); err != nil {
				return fmt.Errorf("lab: quic keys: %w", err)
			}
		}
		return nil
	}
	// A template pod without echo-server around: make the certificates here.
	return writeCerts(dir, hosts)
}

func runTool(ctx context.Context, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// writeCerts writes ca.pem, ca.key, cert.crt and cert.key with
// echo-server's certs package (what `echo-server certs` runs).
func writeCerts(dir string, hosts []string) error {
	if _, err := certs.Write(dir, hosts); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}
