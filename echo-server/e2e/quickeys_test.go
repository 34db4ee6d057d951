package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func keysFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "quic-keys.json")
	if out, err := exec.Command(binary, "keys", "--out", path).CombinedOutput(); err != nil {
		t.Fatalf("echo-server keys: %v\n%s", err, out)
	}
	return path
}

// recordingTransport is an HTTP/3 client that keeps the QUIC connections it
// dialed, so tests can look at their TLS state.
type recordingTransport struct {
	*http3.Transport
	mu    sync.Mutex
	conns []*quic.Conn
}

func newRecordingTransport(t *testing.T, conf *tls.Config) *recordingTransport {
	return newRecordingTransportDial(t, conf, quic.DialAddrEarly)
}

type dialFunc func(context.Context, string, *tls.Config, *quic.Config) (*quic.Conn, error)

func newRecordingTransportDial(t *testing.T, conf *tls.Config, dial dialFunc) *recordingTransport {
	rt := &recordingTransport{}
	rt.Transport = &http3.Transport{
		TLSClientConfig: conf,
		QUICConfig:      &quic.Config{MaxIdleTimeout: 5 * time.Second},
		Dial: func(ctx context.Context, addr string, tlsConf *tls.Config, qconf *quic.Config) (*quic.Conn, error) {
			c, err := dial(ctx, addr, tlsConf, qconf)
			if err == nil {
				rt.mu.Lock()
				rt.conns = append(rt.conns, c)
				rt.mu.Unlock()
			}
			return c, err
		},
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

func (rt *recordingTransport) last() *quic.Conn {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.conns[len(rt.conns)-1]
}

// TestSessionResumptionAcrossReplicas: replicas sharing --quic-keys accept
// each other's session tickets, so a client resumes with 0-RTT on another
// pod; a pod with other keys makes it do a full handshake.
func TestSessionResumptionAcrossReplicas(t *testing.T) {
	shared := keysFile(t)
	a := start(t, "pod-a", "--quic-keys", shared)
	b := start(t, "pod-b", "--quic-keys", shared)
	c := start(t, "pod-c", "--quic-keys", keysFile(t))
	conf := &tls.Config{RootCAs: caPool(t), ClientSessionCache: tls.NewLRUClientSessionCache(8)}

	// Get a ticket from pod a. Tickets arrive after the handshake: wait
	// for it to be in the cache (the cache key is the server name,
	// 127.0.0.1, the same for every pod here).
	first := newRecordingTransport(t, conf)
	if r, err := get(context.Background(), &http.Client{Transport: first, Timeout: 5 * time.Second}, a.url("h3", "/")); err != nil || r.status != 200 {
		t.Fatalf("GET pod a: %v %d", err, r.status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s, ok := conf.ClientSessionCache.Get("127.0.0.1"); ok && s != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no session ticket from pod a")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = first.Close()

	// (Offering 0-RTT to a pod with other keys makes quic-go's client fail
	// the request with "0-RTT rejected"; that pod is dialed without early
	// data, to see that it refuses the ticket.)
	tests := []struct {
		name       string
		p          *proc
		dial       dialFunc
		method     string
		wantResume bool
	}{
		{"other replica, shared keys, 0-RTT", b, quic.DialAddrEarly, http3.MethodGet0RTT, true},
		{"replica with other keys", c, quic.DialAddr, http.MethodGet, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRecordingTransportDial(t, conf, tc.dial)
			req, _ := http.NewRequest(tc.method, tc.p.url("h3", "/"), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := rt.RoundTrip(req.WithContext(ctx))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != tc.p.pod {
				t.Fatalf("status %d from %q", resp.StatusCode, resp.Header.Get("X-Served-By"))
			}
			st := rt.last().ConnectionState()
			if st.TLS.DidResume != tc.wantResume || st.Used0RTT != tc.wantResume {
				t.Errorf("resumed %v, 0-RTT %v; want %v", st.TLS.DidResume, st.Used0RTT, tc.wantResume)
			}
		})
	}
}

// udpSwitch forwards one client's datagrams to a backend that can be
// switched, like a Service whose conntrack entry moved to another pod.
type udpSwitch struct {
	front   *net.UDPConn
	back    *net.UDPConn
	target  atomic.Pointer[net.UDPAddr]
	client  atomic.Pointer[net.UDPAddr]
	closing chan struct{}
	wg      sync.WaitGroup
}

func newUDPSwitch(t *testing.T, target string) *udpSwitch {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSwitch{front: front, back: back, closing: make(chan struct{})}
	s.point(t, target)
	s.wg.Go(func() { // client -> backend
		buf := make([]byte, 2048)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.client.Store(from)
			_, _ = back.WriteToUDP(buf[:n], s.target.Load())
		}
	})
	s.wg.Go(func() { // backend -> client
		buf := make([]byte, 2048)
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if c := s.client.Load(); c != nil {
				_, _ = front.WriteToUDP(buf[:n], c)
			}
		}
	})
	t.Cleanup(func() {
		front.Close()
		back.Close()
		s.wg.Wait()
	})
	return s
}

func (s *udpSwitch) point(t *testing.T, target string) {
	addr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	s.target.Store(addr)
}

// TestStatelessResetFailover: when a client's QUIC flow lands on another
// replica, a replica sharing the stateless-reset key resets the connection
// at once and the client moves on; without the shared key the client only
// hears silence.
func TestStatelessResetFailover(t *testing.T) {
	shared := keysFile(t)
	a := start(t, "pod-a", "--quic-keys", shared)
	tests := []struct {
		name      string
		successor *proc
		wantReset bool
	}{
		{"shared keys", start(t, "pod-b", "--quic-keys", shared), true},
		{"no shared keys", start(t, "pod-c"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sw := newUDPSwitch(t, a.h3)
			rt := newRecordingTransport(t, &tls.Config{RootCAs: caPool(t), ServerName: "127.0.0.1"})
			c := &http.Client{Transport: rt}
			url := "https://" + sw.front.LocalAddr().String() + "/"
			r, err := get(context.Background(), c, url)
			if err != nil || r.body.Hostname != "pod-a" {
				t.Fatalf("before the switch: %v %+v", err, r.body)
			}
			sw.point(t, tc.successor.h3)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			began := time.Now()
			_, err = get(ctx, c, url)
			took := time.Since(began)
			var reset *quic.StatelessResetError
			gotReset := errors.As(err, &reset)
			if gotReset != tc.wantReset {
				t.Fatalf("after the switch: err %v after %v; want stateless reset: %v", err, took, tc.wantReset)
			}
			if tc.wantReset && took > 500*time.Millisecond {
				t.Errorf("stateless reset took %v, want at once", took)
			}
			if !tc.wantReset && ctx.Err() == nil {
				t.Errorf("without shared keys the request ended after %v (%v), want it to hang until its deadline", took, err)
			}
			// A fresh connection (new transport, new socket) lands on the
			// successor and works.
			fresh := &http.Client{Transport: newRecordingTransport(t, &tls.Config{RootCAs: caPool(t), ServerName: "127.0.0.1"})}
			r, err = get(context.Background(), fresh, url)
			if err != nil || r.body.Hostname != tc.successor.pod {
				t.Errorf("new connection after the switch: %v %+v", err, r.body)
			}
		})
	}
}
