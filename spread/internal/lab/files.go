package lab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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

// writeCerts writes ca.pem, ca.key, cert.crt, cert.key like `echo-server certs`.
func writeCerts(dir string, hosts []string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("lab: certs: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spread lab CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("lab: certs: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("lab: certs: %w", err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, h)
		}
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("lab: certs: %w", err)
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	files := map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"ca.key":   {Type: "EC PRIVATE KEY", Bytes: caKeyDER},
		"cert.crt": {Type: "CERTIFICATE", Bytes: der},
		"cert.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			return fmt.Errorf("lab: certs: %w", err)
		}
	}
	return nil
}
