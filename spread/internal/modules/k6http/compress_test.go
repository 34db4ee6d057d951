package k6http

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCompressedResponseWireBytes: a 100 kB body sent gzipped is decoded
// for the script while data_received counts the few compressed bytes the
// network carried.
func TestCompressedResponseWireBytes(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write([]byte(strings.Repeat("a", 100_000)))
	_ = w.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			http.Error(rw, "want Accept-Encoding: gzip", 400)
			return
		}
		rw.Header().Set("Content-Encoding", "gzip")
		_, _ = rw.Write(gz.Bytes())
	}))
	t.Cleanup(srv.Close)
	vu := newVU(t, nil)
	n := run(t, vu, fmt.Sprintf(`http.get(%q, {headers: {'Accept-Encoding': 'gzip'}}).body.length`, srv.URL)).ToInteger()
	if n != 100_000 {
		t.Fatalf("decoded body %d bytes, want 100000", n)
	}
	if recv := sum(vu, "data_received"); recv <= float64(gz.Len()) || recv > float64(gz.Len()+1000) {
		t.Fatalf("data_received %v, want the %d compressed bytes plus headers", recv, gz.Len())
	}
}
