package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestRecycling: with --max-conn-requests 3 each protocol's keep-alive
// client is moved to new connections (Connection: close, GOAWAY) and no
// request fails, sequential or concurrent.
func TestRecycling(t *testing.T) {
	p := start(t, "pod-recycle", "--max-conn-requests", "3", "--delay", "5ms")
	cs := clients(t)
	for _, proto := range []string{"h1", "h2", "h3"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := cs[proto]
			// Sequential: the numbers on the connection go 1,2,3,1,2,3...
			for i := range 9 {
				r, err := get(ctx, c, p.url(proto, "/"))
				if err != nil || r.status != http.StatusOK {
					t.Fatalf("request %d: %v status %d", i, err, r.status)
				}
				if want := i%3 + 1; r.body.ConnRequests != want {
					t.Errorf("request %d: conn_requests %d, want %d", i, r.body.ConnRequests, want)
				}
			}
			if got := p.metric(`echo_connections_opened_total{proto="` + proto + `"}`); got != 3 {
				t.Errorf("9 sequential requests opened %v connections, want 3", got)
			}
			// Concurrent: 8 workers x 15 requests, none may fail.
			var wg sync.WaitGroup
			errs := make(chan error, 8*15)
			for range 8 {
				wg.Go(func() {
					for range 15 {
						r, err := get(ctx, c, p.url(proto, "/"))
						if err == nil && r.status != http.StatusOK {
							err = fmt.Errorf("status %d", r.status)
						}
						if err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent request failed: %v", err)
			}
			opened := p.metric(`echo_connections_opened_total{proto="` + proto + `"}`)
			recycled := p.metric(`echo_connections_recycled_total{proto="` + proto + `",reason="max_requests"}`)
			// HTTP/1.1 serves one request at a time: 129 requests, 3 per
			// connection, make 43 connections. HTTP/2 and HTTP/3 also finish
			// the streams that were in flight when the GOAWAY left, so they
			// need fewer, but still several.
			minOpened := 43.0
			if proto != "h1" {
				minOpened = 8
			}
			if opened < minOpened || recycled < minOpened-1 {
				t.Errorf("connections opened %v, recycled %v; want >= %v", opened, recycled, minOpened)
			}
			if got := p.metric(`echo_requests_total{code="200",proto="` + proto + `"}`); got != 129 {
				t.Errorf("server answered %v requests, want 129", got)
			}
			// Recycled connections are gone: at most the client's idle
			// pool (8 workers) stays open, once the GOAWAY linger is over.
			gauge := `echo_open_connections{proto="` + proto + `"}`
			deadline := time.Now().Add(3 * time.Second)
			for p.metric(gauge) > 8 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if open := p.metric(gauge); open > 8 || open < 0 {
				t.Errorf("%s = %v after the run, want 0..8 (opened %v)", gauge, open, opened)
			}
		})
	}
}

// TestMaxConnAge: a connection is recycled at its first request after
// --max-conn-age.
func TestMaxConnAge(t *testing.T) {
	p := start(t, "pod-age", "--max-conn-age", "300ms")
	cs := clients(t)
	for _, proto := range []string{"h1", "h2", "h3"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conns := 0
			for i := range 10 {
				r, err := get(ctx, cs[proto], p.url(proto, "/"))
				if err != nil || r.status != http.StatusOK {
					t.Fatalf("request %d: %v status %d", i, err, r.status)
				}
				if r.body.ConnAgeMS > 450 {
					t.Errorf("request %d on a connection %d ms old, want < 450 (max age 300ms, 100ms pace)", i, r.body.ConnAgeMS)
				}
				if r.body.ConnRequests == 1 {
					conns++
				}
				time.Sleep(100 * time.Millisecond)
			}
			// 10 requests over ~1s with connections lasting ~300-400ms.
			// (quic-go's client reuses its UDP socket, so remote_addr cannot
			// tell connections apart: conn_requests restarting at 1 does.)
			if conns < 3 || conns > 5 {
				t.Errorf("used %d connections, want 3..5", conns)
			}
		})
	}
}
