package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/echotest"
)

// The benchmarks below put the client package next to a bare quic-go
// http3.Transport doing the same requests against a real echo-server, 8
// goroutines as in xk6-http3/bench. Besides ns/op (wall clock, noisy on a
// shared machine) they report this process's CPU per request (cpu-µs/op),
// which is what an A/B of a change should compare.

func benchServer(b *testing.B) (url string, ca []byte) {
	pki := echotest.Certs(b)
	srv := echotest.Start(b, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
	return srv.H3URL(), readCA(b, pki)
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parallel runs fn(worker) b.N times over 8 goroutines, each with the
// state newWorker made for it, and reports CPU per request.
func parallel[W any](b *testing.B, newWorker func() W, fn func(W) error) {
	const workers = 8
	ws := make([]W, workers)
	for i := range ws {
		ws[i] = newWorker()
	}
	for _, w := range ws { // warm: dial every connection first
		if err := fn(w); err != nil {
			b.Fatal(err)
		}
	}
	var (
		wg   sync.WaitGroup
		next = make(chan struct{}, workers)
		errs = make(chan error, workers)
	)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNow()
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := fn(w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if testing.Verbose() { // a leak of connections shows here

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("goroutines %d, heap in use %d KiB, GCs %d", runtime.NumGoroutine(), ms.HeapInuse>>10, ms.NumGC)
	}
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func bareGet(rt http.RoundTripper, url string) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

func BenchmarkSingleConnection(b *testing.B) {
	url, ca := benchServer(b)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	b.Run("bare-transport", func(b *testing.B) {
		var trs []*http3.Transport
		defer func() {
			for _, tr := range trs {
				tr.Close()
			}
		}()
		parallel(b, func() *http3.Transport {
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			trs = append(trs, tr)
			return tr
		}, func(tr *http3.Transport) error { return bareGet(tr, url) })
	})
	b.Run("client", func(b *testing.B) {
		var cs []*Client
		defer func() {
			for _, c := range cs {
				c.Close()
			}
		}()
		ctx := context.Background()
		parallel(b, func() *Client {
			c, err := New(Options{CACerts: ca})
			if err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
			return c
		}, func(c *Client) error {
			_, err := c.Do(ctx, &Request{URL: url})
			return err
		})
	})
}

func BenchmarkPerRequest(b *testing.B) {
	url, ca := benchServer(b)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	b.Run("bare-transport", func(b *testing.B) {
		conf := &tls.Config{RootCAs: pool}
		parallel(b, func() int { return 0 }, func(int) error {
			tr := &http3.Transport{TLSClientConfig: conf}
			defer tr.Close()
			return bareGet(tr, url)
		})
	})
	b.Run("client", func(b *testing.B) {
		c, err := New(Options{Mode: PerRequest, CACerts: ca})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		parallel(b, func() *Client { return c }, func(c *Client) error {
			_, err := c.Do(ctx, &Request{URL: url})
			return err
		})
	})
}
