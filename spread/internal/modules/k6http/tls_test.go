package k6http

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all PEM.
type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey string
	pool                                                *x509.CertPool
	ca                                                  *x509.Certificate // for signing OCSP responses in tests
	caKey                                               *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(cn string, usage x509.ExtKeyUsage, ips ...net.IP) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: ips,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	}
	p := &testPKI{caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), pool: x509.NewCertPool(), ca: ca, caKey: caKey}
	p.pool.AddCert(ca)
	p.serverCert, p.serverKey = leaf("server", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	p.clientCert, p.clientKey = leaf("client-a", x509.ExtKeyUsageClientAuth)
	return p
}

// mtlsServer requires a client certificate signed by the CA and answers
// with the client's CN, the TLS version and the cipher suite.
func mtlsServer(t testing.TB, p *testPKI, clientAuth tls.ClientAuthType, minVersion uint16) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(p.serverCert), []byte(p.serverKey))
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_, _ = fmt.Fprintf(w, `{"cn":%q,"suite":%q}`, cn, tls.CipherSuiteName(r.TLS.CipherSuite))
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: clientAuth, ClientCAs: p.pool, MinVersion: minVersion}
	s.Config.ErrorLog = quietLog()
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestTLSAuthCipherSuitesVersions(t *testing.T) {
	p := newTestPKI(t)
	srv := mtlsServer(t, p, tls.RequireAndVerifyClientCert, 0)
	auth := []map[string]any{{"domains": []string{"127.0.0.1"}, "cert": p.clientCert, "key": p.clientKey}}

	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM, "tlsAuth": auth})
	checkJS(t, vu, fmt.Sprintf(`var r = http.get(%q);
		return {clientCert: r.status === 200 && r.json('cn') === 'client-a', tls13: r.tls_version === 'tls1.3'};`, srv.URL))

	// No certificate for this domain: the server refuses the handshake.
	other := []map[string]any{{"domains": []string{"example.com"}, "cert": p.clientCert, "key": p.clientKey}}
	vu2 := newVU(t, map[string]any{"tlsCACerts": p.caPEM, "tlsAuth": other})
	checkJS(t, vu2, fmt.Sprintf(`var r = http.get(%q);
		return {refused: r.status === 0 && r.error_code >= 1000 && r.error !== ''};`, srv.URL))

	// A TLS 1.2 range and one cipher suite: the server sees that suite.
	vu3 := newVU(t, map[string]any{"tlsCACerts": p.caPEM, "tlsAuth": auth,
		"tlsVersion":      map[string]string{"min": "tls1.2", "max": "tls1.2"},
		"tlsCipherSuites": []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}})
	checkJS(t, vu3, fmt.Sprintf(`var r = http.get(%q);
		return {tls12: r.tls_version === 'tls1.2', suite: r.json('suite') === 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'};`, srv.URL))

	// A server that wants TLS 1.3 refuses a client capped at 1.2.
	srv13 := mtlsServer(t, p, tls.NoClientCert, tls.VersionTLS13)
	vu4 := newVU(t, map[string]any{"tlsCACerts": p.caPEM, "tlsVersion": "tls1.2"})
	checkJS(t, vu4, fmt.Sprintf(`var r = http.get(%q);
		return {versionRefused: r.status === 0 && r.error_code >= 1300 && r.error_code < 1400};`, srv13.URL))

	for _, bad := range []map[string]any{
		{"tlsCipherSuites": []string{"TLS_NOPE"}},
		{"tlsAuth": []map[string]any{{"domains": []string{"x"}, "cert": "nope.pem", "key": "nope.pem"}}},
		{"tlsAuth": []map[string]any{{"cert": p.clientCert, "key": p.clientKey}}},
	} {
		if err := (&module{}).CheckOptions(optionsOf(t, bad)); err == nil {
			t.Errorf("options %v: no error", bad)
		}
	}
}
