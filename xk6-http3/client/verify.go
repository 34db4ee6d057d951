package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// chainVerifier verifies a server's certificate chain exactly as
// crypto/tls does for a client (x509's Verify with the configured roots,
// the intermediates the server sent, the server name and the current
// time) and remembers the chains it accepted, until the first of their
// certificates expires.
//
// Why by hand: a load client makes thousands of handshakes with servers
// presenting the same chain, and crypto/tls verifies it from scratch
// each time: an ECDSA signature check per certificate, ~8% of the
// client's CPU per fresh connection on this machine. Neither crypto/tls
// nor quic-go caches verifications. What the cache skips depends only on
// the chain's bytes, the roots, the name and the time, all in its key or
// checked on every use; the server still proves in every handshake that
// it holds the leaf's private key (the CertificateVerify signature,
// which crypto/tls checks whatever the verification settings).
type chainVerifier struct {
	roots *x509.CertPool // nil: the system roots, as in tls.Config

	mu sync.Mutex
	ok map[[sha256.Size]byte]validity
}

// validity is when every certificate of a verified chain is valid.
type validity struct{ notBefore, notAfter time.Time }

// maxVerifiedChains bounds the cache; a load test talks to a few names.
const maxVerifiedChains = 256

func newChainVerifier(roots *x509.CertPool) *chainVerifier {
	return &chainVerifier{roots: roots, ok: map[[sha256.Size]byte]validity{}}
}

// install makes conf verify through v for serverName: crypto/tls's own
// chain verification is switched off (InsecureSkipVerify) and done by
// VerifyConnection instead, which crypto/tls also calls on resumed
// connections.
func (v *chainVerifier) install(conf *tls.Config, serverName string) {
	conf.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		return v.verify(serverName, cs.PeerCertificates, time.Now())
	}
}

// verify checks certs (leaf first, as the server sent them) for name.
func (v *chainVerifier) verify(name string, certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	key := chainKey(name, certs)
	v.mu.Lock()
	w, hit := v.ok[key]
	v.mu.Unlock()
	if hit && !now.Before(w.notBefore) && !now.After(w.notAfter) {
		return nil
	}
	opts := x509.VerifyOptions{Roots: v.roots, CurrentTime: now, DNSName: name, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		// the error crypto/tls returns, so errors classify the same
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	// The window of the chain that verified (leaf to root): later
	// handshakes with the same certificates are accepted only within it.
	w = validity{notBefore: chains[0][0].NotBefore, notAfter: chains[0][0].NotAfter}
	for _, c := range chains[0][1:] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	v.mu.Lock()
	if len(v.ok) >= maxVerifiedChains {
		clear(v.ok)
	}
	v.ok[key] = w
	v.mu.Unlock()
	return nil
}

// chainKey identifies a name and the exact certificates sent for it.
func chainKey(name string, certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	for _, c := range certs {
		binary.BigEndian.PutUint64(n[:], uint64(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
