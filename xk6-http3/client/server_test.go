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
	inflight  atomic.Int64
	used0RTT  bool
	recycling atomic.Bool
	conn      *quic.Conn
}

// testServer is an in-process HTTP/3 server recording its connections.
type testServer struct {
	t         testing.TB
	pod       string
	addr      string
	resetKey  quic.StatelessResetKey
	ticketKey [32]byte
	pki       *testPKI

	maxConnRequests int64         // close a connection gracefully after this many requests
	delay           time.Duration // per request

	mu       sync.Mutex
	conns    []*connRecord
	maxConc  int64
	inflight atomic.Int64

	udp *net.UDPConn
	tr  *quic.Transport
	srv *http3.Server
}

type ctxKey struct{}

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
	s.srv = &http3.Server{Handler: http.HandlerFunc(s.handle),
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			s.mu.Lock()
			rec := &connRecord{id: len(s.conns) + 1, remote: c.RemoteAddr().String(), conn: c,
				used0RTT: c.ConnectionState().Used0RTT}
			s.conns = append(s.conns, rec)
			s.mu.Unlock()
			return context.WithValue(ctx, ctxKey{}, rec)
		}}
	go func() { _ = s.srv.ServeListener(ln) }()
}

func (s *testServer) handle(w http.ResponseWriter, r *http.Request) {
	rec := r.Context().Value(ctxKey{}).(*connRecord)
	if rec.recycling.Load() {
		// a recycled connection takes no new request: reject it unprocessed
		if str, err := w.(http3.HTTPStreamer).HTTPStream(); err == nil {
			str.CancelRead(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
			str.CancelWrite(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
		}
		return
	}
	n := rec.requests.Add(1)
	rec.inflight.Add(1)
	cur := s.inflight.Add(1)
	s.mu.Lock()
	s.maxConc = max(s.maxConc, cur)
	s.mu.Unlock()
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	w.Header().Set("X-Served-By", s.pod)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"hostname": s.pod, "proto": r.Proto,
		"remote_addr": r.RemoteAddr, "conn_requests": n})
	s.inflight.Add(-1)
	left := rec.inflight.Add(-1)
	_ = left
	if s.maxConnRequests > 0 && n >= s.maxConnRequests && rec.recycling.CompareAndSwap(false, true) {
		// recycle, as echo-server --max-conn-requests does: later requests
		// are rejected, and the connection closes gracefully once its
		// streams are done
		go func() {
			for i := 0; i < 1000 && rec.inflight.Load() > 0; i++ {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Millisecond) // let the last response leave
			_ = rec.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "recycled")
		}()
	}
}

// stop kills the server without telling clients (like a killed process).
func (s *testServer) stop() {
	if s.tr == nil {
		return
	}
	// Closing the socket under quic-go drops every connection silently.
	_ = s.udp.Close()
	_ = s.tr.Close()
	_ = s.srv.Close()
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
