// Package certs creates a private CA and a server certificate signed by it,
// so the TLS and QUIC listeners can be tried without OpenSSL.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names written by Write, as the write-up's OpenSSL steps named them.
const (
	CAFile   = "ca.pem"
	CAKey    = "ca.key"
	CertFile = "cert.crt"
	KeyFile  = "cert.key"
)

// Validity is how long generated certificates stay valid.
const Validity = 365 * 24 * time.Hour

// Paths lists the files Write produced.
type Paths struct{ CA, CAKey, Cert, Key string }

// Write creates DIR/ca.pem, ca.key, cert.crt and cert.key; an existing CA in
// DIR is reused so several servers' certificates chain to one trusted root.
func Write(dir string, hosts []string) (Paths, error) {
	p := Paths{
		CA:    filepath.Join(dir, CAFile),
		CAKey: filepath.Join(dir, CAKey),
		Cert:  filepath.Join(dir, CertFile),
		Key:   filepath.Join(dir, KeyFile),
	}
	if len(hosts) == 0 {
		return p, errors.New("certs: no hosts given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, fmt.Errorf("certs: %w", err)
	}
	ca, caKey, err := loadCA(p.CA, p.CAKey)
	if errors.Is(err, os.ErrNotExist) {
		ca, caKey, err = newCA()
		if err == nil {
			err = writePair(p.CA, p.CAKey, ca.Raw, caKey)
		}
	}
	if err != nil {
		return p, err
	}
	der, key, err := newLeaf(ca, caKey, hosts)
	if err != nil {
		return p, err
	}
	return p, writePair(p.Cert, p.Key, der, key)
}

// SplitHosts turns "a, b,,c" into [a b c].
func SplitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "echo-server test CA", Organization: []string{"spread"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"spread"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		// Browsers check IP addresses against IP SANs only, never DNS SANs.
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: server certificate: %w", err)
	}
	return der, key, nil
}

func loadCA(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("certs: %s or %s is not PEM", certPath, keyPath)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parse %s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parse %s (want an EC key): %w", keyPath, err)
	}
	return ca, key, nil
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: marshal key: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
