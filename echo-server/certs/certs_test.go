package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"reflect"
	"testing"
)

func TestWriteVerifies(t *testing.T) {
	dir := t.TempDir()
	p, err := Write(dir, []string{"localhost", "127.0.0.1", "::1", "echo.svc"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(p.CA)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.pem: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "echo.svc"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: pool}); err == nil {
		t.Error("certificate valid for a host it was not made for")
	}
	if fi, _ := os.Stat(p.Key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}

	// A second run reuses the CA: the new certificate verifies against the old ca.pem.
	if _, err := Write(dir, []string{"pod-2"}); err != nil {
		t.Fatal(err)
	}
	caPEM2, _ := os.ReadFile(p.CA)
	if string(caPEM2) != string(caPEM) {
		t.Fatal("CA was replaced")
	}
	pair2, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf2, _ := x509.ParseCertificate(pair2.Certificate[0])
	if _, err := leaf2.Verify(x509.VerifyOptions{DNSName: "pod-2", Roots: pool}); err != nil {
		t.Errorf("second certificate: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	if _, err := Write(t.TempDir(), nil); err == nil {
		t.Error("no hosts accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/"+CAFile, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+CAKey, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, []string{"x"}); err == nil {
		t.Error("junk CA accepted")
	}
}

func TestSplitHosts(t *testing.T) {
	tests := map[string][]string{
		"":                  nil,
		"a":                 {"a"},
		" a, b ,,127.0.0.1": {"a", "b", "127.0.0.1"},
	}
	for in, want := range tests {
		if got := SplitHosts(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitHosts(%q) = %v, want %v", in, got, want)
		}
	}
}
