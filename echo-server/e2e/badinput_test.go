package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBadInput: abusive clients do not stop the server from answering a
// legitimate one, and each gets the answer HTTP prescribes.
func TestBadInput(t *testing.T) {
	p := start(t, "pod-bad", "--read-header-timeout", "1s", "--access-log=false")
	cs := clients(t)
	legit := func(t *testing.T) {
		t.Helper()
		for _, proto := range []string{"h1", "h2", "h3"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			began := time.Now()
			r, err := get(ctx, cs[proto], p.url(proto, "/"))
			cancel()
			if err != nil || r.status != http.StatusOK || r.body.Hostname != p.pod {
				t.Errorf("legitimate %s request: %v status %d body %q", proto, err, r.status, r.raw)
			} else if d := time.Since(began); d > time.Second {
				t.Errorf("legitimate %s request took %v", proto, d)
			}
		}
	}

	t.Run("slowloris", func(t *testing.T) {
		const conns = 100
		closed := make(chan time.Duration, conns)
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		began := time.Now()
		for range conns {
			c, err := net.Dial("tcp", p.h1)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			context.AfterFunc(ctx, func() { c.Close() })
			wg.Go(func() {
				defer c.Close()
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
					return
				}
				// A header line every 300ms, never the blank line. The
				// server answers 408 or just closes after 1s.
				go func() {
					for ctx.Err() == nil {
						time.Sleep(300 * time.Millisecond)
						if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
							return
						}
					}
				}()
				_, _ = io.Copy(io.Discard, c)
				closed <- time.Since(began)
			})
		}
		time.Sleep(300 * time.Millisecond)
		legit(t)
		wg.Wait()
		close(closed)
		n := 0
		for d := range closed {
			n++
			if d > 3*time.Second {
				t.Errorf("slowloris connection closed after %v, want about 1s (--read-header-timeout)", d)
			}
		}
		if n != conns {
			t.Errorf("%d of %d slowloris connections were closed by the server", n, conns)
		}
	})

	t.Run("oversized headers", func(t *testing.T) {
		big := strings.Repeat("a", 100<<10) // > 64 KiB --max-header-bytes default
		for _, proto := range []string{"h1", "h2", "h3"} {
			req, _ := http.NewRequest(http.MethodGet, p.url(proto, "/"), nil)
			req.Header.Set("X-Big", big)
			resp, err := cs[proto].Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("%s: oversized header got status %d, want 431", proto, resp.StatusCode)
				}
			} else {
				t.Logf("%s: oversized header: %v", proto, err)
			}
			// An error is fine too: Go's HTTP/2 client will not even send
			// headers over the server's advertised limit.
		}
		// curl does send them over HTTP/2; the server refuses the stream.
		if _, err := exec.LookPath("curl"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, _ := exec.CommandContext(ctx, "curl", "-sS", "--http2", "--max-time", "5", "-o", "/dev/null",
				"-w", "%{http_code}", "--cacert", filepath.Join(certDir, "ca.pem"),
				"-H", "X-Big: "+big, p.url("h2", "/")).Output()
			cancel()
			if string(out) == "200" {
				t.Errorf("h2 (curl): oversized header was served")
			}
		}
		legit(t)
	})

	t.Run("malformed request line", func(t *testing.T) {
		for raw, want := range map[string]string{
			"GARBAGE\r\n\r\n":                                 "HTTP/1.1 400 ",
			"GET /\r\n\r\n":                                   "HTTP/1.1 400 ",
			"GET / HTTP/9.9\r\nHost: x\r\n\r\n":               "HTTP/1.1 505 ",
			"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n":            "HTTP/1.1 400 ",
			"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n": "HTTP/1.1 400 ",
		} {
			c, err := net.DialTimeout("tcp", p.h1, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			_, _ = io.WriteString(c, raw)
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err != nil || !strings.HasPrefix(line, want) {
				t.Errorf("%q: answer %q (%v), want %q", raw, line, err, want)
			}
		}
		// Not TLS at all on the TLS port, and a TLS client that gives up mid-handshake.
		c, err := net.Dial("tcp", p.tls)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		_, _ = c.Write(junk)
		c.Close()
		tc, err := tls.Dial("tcp", p.tls, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil {
			_, _ = tc.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ngarbage-frames"))
			tc.Close()
		}
		legit(t)
	})

	t.Run("random UDP datagrams", func(t *testing.T) {
		c, err := net.Dial("udp", p.h3)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 1500)
		for i := range 2000 {
			n := 1 + i%len(buf)
			_, _ = rand.Read(buf[:n])
			if i%2 == 0 && n > 6 {
				// Look like a QUIC v1 long-header Initial to get past the
				// first checks.
				buf[0] = 0xc0 | buf[0]&0x0f
				copy(buf[1:5], []byte{0, 0, 0, 1})
			}
			_, _ = c.Write(buf[:n])
		}
		legit(t)
	})

	t.Run("oversized body", func(t *testing.T) {
		resp, err := cs["h1"].Post(p.url("h1", "/"), "application/octet-stream", strings.NewReader(strings.Repeat("x", 2<<20)))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MiB body: status %d, want 413", resp.StatusCode)
		}
		legit(t)
	})
}
