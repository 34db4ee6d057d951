package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// testPKI is a CA and a server certificate for 127.0.0.1 and localhost.
type testPKI struct {
	caPEM []byte
	cert  tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// connRecord is what the test server knows of one QUIC connection.
type connRecord struct {
	id        int
	remote    string
	requests  atomic.Int64
	used0RTT  bool
	recycling atomic.Bool
	conn      *quic.Conn
	srv       *http3.Server // this connection's own server: its Shutdown is a GOAWAY on it
}

// testServer is an in-process HTTP/3 server recording its connections.
// Like echo-server, it serves each connection with an http3.Server of its
// own, because quic-go has no per-connection GOAWAY.
type testServer struct {
	t         testing.TB
	pod       string
	addr      string
	resetKey  quic.StatelessResetKey
	ticketKey [32]byte
	pki       *testPKI

	maxConnRequests int64         // recycle a connection (GOAWAY) at this request, as echo-server --max-conn-requests
	delay           time.Duration // per request
	early           int           // informational 103 responses sent before the answer
	cutBody         bool          // send the headers and half a body, then close the connection (H3_NO_ERROR)

	mu       sync.Mutex
	conns    []*connRecord
	maxConc  int64
	inflight atomic.Int64
	canceled atomic.Int64 // requests whose stream the client reset while the handler waited

	udp *net.UDPConn
	tr  *quic.Transport
	wg  sync.WaitGroup // the accept loop, each connection's server and recycler
}

type ctxKey struct{}

// recycleGrace bounds how long a recycled connection may stay open after
// its GOAWAY: quic-go's client closes it itself once its streams are done,
// so this only cuts a client that ignores the GOAWAY; the handlers here
// last at most a few hundred milliseconds.
const recycleGrace = 3 * time.Second

func startServer(t testing.TB, pki *testPKI, addr string, mod func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{t: t, pod: "pod-a", pki: pki}
	if _, err := rand.Read(s.resetKey[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(s.ticketKey[:]); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(s)
	}
	s.listen(t, addr)
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) listen(t testing.TB, addr string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	s.udp = udp
	s.addr = udp.LocalAddr().String()
	key := s.resetKey
	s.tr = &quic.Transport{Conn: udp, StatelessResetKey: &key}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{s.pki.cert}, NextProtos: []string{http3.NextProtoH3}}
	tlsConf.SetSessionTicketKeys([][32]byte{s.ticketKey})
	ln, err := s.tr.ListenEarly(tlsConf, &quic.Config{Allow0RTT: true, MaxIdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Go(func() { s.accept(ln) })
}

// accept serves every connection of ln until the transport is closed.
func (s *testServer) accept(ln *quic.EarlyListener) {
	for {
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		s.mu.Lock()
		rec := &connRecord{id: len(s.conns) + 1, remote: c.RemoteAddr().String(), conn: c,
			used0RTT: c.ConnectionState().Used0RTT}
		s.conns = append(s.conns, rec)
		s.mu.Unlock()
		rec.srv = &http3.Server{Handler: http.HandlerFunc(s.handle),
			ConnContext: func(ctx context.Context, _ *quic.Conn) context.Context {
				return context.WithValue(ctx, ctxKey{}, rec)
			}}
		s.wg.Go(func() {
			_ = rec.srv.ServeQUICConn(c)
			// ServeQUICConn leaves closing to its caller (e.g. when the
			// server was shut down before this connection was served).
			_ = c.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
		})
	}
}

func (s *testServer) handle(w http.ResponseWriter, r *http.Request) {
	rec := r.Context().Value(ctxKey{}).(*connRecord)
	n := rec.requests.Add(1)
	if s.maxConnRequests > 0 && n >= s.maxConnRequests && rec.recycling.CompareAndSwap(false, true) {
		// Recycle as echo-server --max-conn-requests does: GOAWAY now, so
		// the client opens no new stream on this connection; streams it
		// opened before seeing the GOAWAY are answered if the server had
		// accepted them, else rejected with H3_REQUEST_REJECTED (never
		// processed, so the client may send them again); the client closes
		// the connection once its streams are done.
		s.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), recycleGrace)
			defer cancel()
			_ = rec.srv.Shutdown(ctx)
		})
	}
	cur := s.inflight.Add(1)
	s.mu.Lock()
	s.maxConc = max(s.maxConc, cur)
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			// the client reset the stream (a cancelled request)
			s.canceled.Add(1)
			s.inflight.Add(-1)
			return
		}
	}
	for range s.early {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
	}
	w.Header().Del("Link")
	w.Header().Set("X-Served-By", s.pod)
	if s.cutBody {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"hostname":`))
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond) // let the headers and the start of the body arrive
		_ = rec.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "cut")
		s.inflight.Add(-1)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"hostname": s.pod, "proto": r.Proto,
		"remote_addr": r.RemoteAddr, "conn_requests": n})
	s.inflight.Add(-1)
}

// stop kills the server without telling clients (like a killed process).
func (s *testServer) stop() {
	if s.tr == nil {
		return
	}
	// Closing the socket under quic-go drops every connection silently.
	_ = s.udp.Close()
	_ = s.tr.Close()
	s.wg.Wait()
	s.tr = nil
}

// restart starts a new server process-equivalent on the same port with
// the same keys: old connections are unknown to it.
func (s *testServer) restart(t testing.TB) {
	s.stop()
	s.mu.Lock()
	s.conns = nil
	s.mu.Unlock()
	s.listen(t, s.addr)
}

func (s *testServer) records() []*connRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*connRecord(nil), s.conns...)
}

func (s *testServer) url() string { return fmt.Sprintf("https://%s/", s.addr) }
