package k6http

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// TestResponseTLSCipherAndOCSP: res.tls_cipher_suite names the negotiated
// suite and res.ocsp reads the server's stapled OCSP response (signed by
// the test CA, parsed by golang.org/x/crypto/ocsp), on both the h1 client
// and net/http's; without a staple the status is "unknown".
func TestResponseTLSCipherAndOCSP(t *testing.T) {
	p := newTestPKI(t)
	cert, err := tls.X509KeyPair([]byte(p.serverCert), []byte(p.serverKey))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	produced := time.Now().Add(-time.Minute).Truncate(time.Second)
	revoked := produced.Add(-time.Hour)
	staple, err := ocsp.CreateResponse(p.ca, p.ca, ocsp.Response{Status: ocsp.Revoked, SerialNumber: leaf.SerialNumber,
		ThisUpdate: produced, NextUpdate: produced.Add(time.Hour), RevokedAt: revoked,
		RevocationReason: ocsp.KeyCompromise}, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	stapled := cert
	stapled.OCSPStaple = staple
	stapled.Certificate = append(append([][]byte{}, cert.Certificate...), p.ca.Raw) // the issuer, to verify the staple
	start := func(c tls.Certificate) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{c}, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
		srv.Config.ErrorLog = quietLog()
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	withStaple, without := start(stapled), start(cert)
	for _, h1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h1=%v", h1), func(t *testing.T) {
			defer func(old bool) { h1OverTLS = old }(h1OverTLS)
			h1OverTLS = h1
			vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM})
			checkJS(t, vu, fmt.Sprintf(`var r = http.get(%q), n = http.get(%q), o = r.ocsp;
				return {status: r.status === 200, cipher: r.tls_cipher_suite === 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
					revoked: o.status === http.OCSP_STATUS_REVOKED, reason: o.revocation_reason === http.OCSP_REASON_KEY_COMPROMISE,
					revokedAt: o.revoked_at === %d, thisUpdate: o.this_update === %d, nextUpdate: o.next_update === %d,
					produced: o.produced_at > 0,
					noStaple: n.ocsp.status === http.OCSP_STATUS_UNKNOWN && n.ocsp.produced_at === 0,
					keys: Object.keys(r).includes('tls_cipher_suite') && Object.keys(r).includes('ocsp')};`,
				withStaple.URL, without.URL, revoked.UnixMilli(), produced.UnixMilli(), produced.Add(time.Hour).UnixMilli()))
		})
	}
}
