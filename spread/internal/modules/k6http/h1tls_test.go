package k6http

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// With HTTP/2 switched off (GODEBUG=http2client=0) https requests run on
// the h1 client: the handshake verifies the server with the VU's CAs and
// presents its client certificate, the connection is kept and reused, and
// the response reports HTTP/1.1, the TLS version and the handshake time.
func TestH1OverTLS(t *testing.T) {
	defer func(old bool) { h1OverTLS = old }(h1OverTLS)
	h1OverTLS = true
	p := newTestPKI(t)
	cert, err := tls.X509KeyPair([]byte(p.serverCert), []byte(p.serverKey))
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_, _ = fmt.Fprintf(w, `{"cn":%q,"alpn":%q,"proto":%q}`, cn, r.TLS.NegotiatedProtocol, r.Proto)
	}))
	srv.EnableHTTP2 = true // the server offers h2: the client must still pick http/1.1
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	auth := []map[string]any{{"domains": []string{"127.0.0.1"}, "cert": p.clientCert, "key": p.clientKey}}
	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM, "tlsAuth": auth})
	checkJS(t, vu, fmt.Sprintf(`var a = http.get(%q), b = http.get(%q);
		return {status: a.status === 200 && b.status === 200, cert: a.json('cn') === 'client-a',
			h1: a.proto === 'HTTP/1.1', srvH1: a.json('proto') === 'HTTP/1.1',
			tls13: a.tls_version === 'tls1.3' && b.tls_version === 'tls1.3',
			handshakeTimed: a.timings.tls_handshaking > 0, reusedNoHandshake: b.timings.tls_handshaking === 0};`, srv.URL, srv.URL))
	if n := conns.Load(); n != 1 {
		t.Errorf("server saw %d connections for two keep-alive requests, want 1", n)
	}
	if s := sum(vu, "http_req_tls_handshaking"); s <= 0 {
		t.Errorf("http_req_tls_handshaking samples sum to %v, want > 0", s)
	}

	// Without the CA the handshake fails verification: an error, no status.
	vu2 := newVU(t, nil)
	checkJS(t, vu2, fmt.Sprintf(`var r = http.get(%q);
		return {refused: r.status === 0 && r.error_code >= 1000 && r.error !== ''};`, srv.URL))
}
