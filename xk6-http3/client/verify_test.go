package client

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"spread.dev/spread/ext/httpkit"
)

// TestChainVerifier checks that remembering verified chains never accepts
// what crypto/tls would refuse: another name, another CA, a time outside
// the chain's validity; and that it is used (one verification for many
// handshakes) without changing what a failure reports.
func TestChainVerifier(t *testing.T) {
	pki, other := newPKI(t), newPKI(t)
	leaf, err := x509.ParseCertificate(pki.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.caPEM)
	v := newChainVerifier(roots)
	now := time.Now()
	certs := []*x509.Certificate{leaf}
	if err := v.verify("127.0.0.1", certs, now); err != nil {
		t.Fatalf("valid chain refused: %v", err)
	}
	if len(v.ok) != 1 {
		t.Fatalf("verified chain not remembered: %d entries", len(v.ok))
	}
	if err := v.verify("127.0.0.1", certs, now); err != nil {
		t.Fatalf("remembered chain refused: %v", err)
	}
	var hostErr x509.HostnameError
	if err := v.verify("example.com", certs, now); !errors.As(err, &hostErr) {
		t.Errorf("same chain for another name: got %v, want a hostname error", err)
	}
	var expired x509.CertificateInvalidError
	if err := v.verify("127.0.0.1", certs, now.Add(2*time.Hour)); !errors.As(err, &expired) || expired.Reason != x509.Expired {
		t.Errorf("remembered chain after its expiry: got %v, want an expiry error", err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.caPEM)
	var unknown x509.UnknownAuthorityError
	if err := newChainVerifier(otherRoots).verify("127.0.0.1", certs, now); !errors.As(err, &unknown) {
		t.Errorf("chain of another CA: got %v, want unknown authority", err)
	}

	// Through real handshakes: many fresh connections, one verification;
	// a server with a certificate of another CA is still refused.
	srv := startServer(t, pki, "127.0.0.1:0", nil)
	c, err := New(Options{Mode: PerRequest, CACerts: pki.caPEM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 5 {
		if res, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil || res.Status != 200 {
			t.Fatalf("request: %v", err)
		}
	}
	if n := len(c.verifier.ok); n != 1 {
		t.Errorf("5 handshakes with one server left %d remembered chains, want 1", n)
	}
	bad := startServer(t, other, "127.0.0.1:0", nil)
	res, err := c.Do(ctx, &Request{URL: bad.url()})
	if err == nil || res.ErrorCode != httpkit.CodeTLSUnknownAuth {
		t.Errorf("server of another CA: code %d, err %v; want %d", res.ErrorCode, err, httpkit.CodeTLSUnknownAuth)
	}
}
