package prometheusrw

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// clientCert writes a self-signed client certificate and key (PEM).
func clientCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "spread-test-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestK6Settings runs `experimental-prometheus-rw` (k6's name) against a TLS
// receiver that wants a client certificate: the bearer token and headers
// of K6_PROMETHEUS_RW_HEADERS_* and _HTTP_HEADERS arrive, a self-signed
// server passes with INSECURE_SKIP_TLS_VERIFY, and STALE_MARKERS ends
// every series with Prometheus's stale NaN.
func TestK6Settings(t *testing.T) {
	rcv := &receiver{}
	var mu sync.Mutex
	var hdr http.Header
	var peerCerts int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hdr = r.Header.Clone()
		peerCerts = len(r.TLS.PeerCertificates)
		mu.Unlock()
		rcv.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	cert, key := clientCert(t)
	var stderr safeBuffer
	reg := ext.NewRegistry()
	o, err := output.New("experimental-prometheus-rw", output.Params{Registry: reg, Stderr: &stderr, TestID: "t9", Env: map[string]string{
		"K6_PROMETHEUS_RW_SERVER_URL": srv.URL + "/api/v1/write", "K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY": "true",
		"K6_PROMETHEUS_RW_BEARER_TOKEN": "tok3n", "K6_PROMETHEUS_RW_HEADERS_X-Scope-OrgID": "tenant-1",
		"K6_PROMETHEUS_RW_HTTP_HEADERS": "X-Extra:yes", "K6_PROMETHEUS_RW_STALE_MARKERS": "true",
		"K6_PROMETHEUS_RW_CLIENT_CERTIFICATE": cert, "K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY": key,
		"K6_PROMETHEUS_RW_PUSH_INTERVAL": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	o.AddSamples([]ext.Sample{{Metric: reg.Get("http_reqs"), Time: time.Now(), Value: 1, Tags: ext.NewTagSet(map[string]string{"pod": "a"})}})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hdr == nil {
		t.Fatalf("nothing arrived: %s", stderr.String())
	}
	if hdr.Get("Authorization") != "Bearer tok3n" || hdr.Get("X-Scope-OrgID") != "tenant-1" || hdr.Get("X-Extra") != "yes" || peerCerts != 1 {
		t.Errorf("headers %v, client certificates %d", hdr, peerCerts)
	}
	rcv.mu.Lock()
	n := len(rcv.reqs)
	rcv.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d requests, want the final push and the stale markers", n)
	}
	for name, ts := range rcv.last(t) {
		if len(ts.Samples) != 1 || math.Float64bits(ts.Samples[0].Value) != 0x7ff0000000000002 {
			t.Errorf("%s: %v, want a stale marker", name, ts.Samples)
		}
	}
	for _, bad := range []map[string]string{
		{"K6_PROMETHEUS_RW_BEARER_TOKEN": "x", "K6_PROMETHEUS_RW_USERNAME": "u"},
		{"K6_PROMETHEUS_RW_CLIENT_CERTIFICATE": cert},
		{"K6_PROMETHEUS_RW_STALE_MARKERS": "sometimes"},
	} {
		if _, err := ParseConfig("", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
