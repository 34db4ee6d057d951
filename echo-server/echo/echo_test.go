package echo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"spread.dev/echo-server/accesslog"
	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/metrics"
)

func TestRoutes(t *testing.T) {
	var logBuf bytes.Buffer
	h := New(Config{
		Pod:     "pod-1",
		Policy:  connstate.Policy{MaxRequests: 2},
		Metrics: metrics.New(),
		Log:     accesslog.New(&logBuf),
		AltSvc:  `h3=":5443"; ma=86400`,
	})
	tests := []struct {
		name       string
		method     string
		path       string
		tls        bool
		protoMajor int
		body       string
		draining   bool
		wantStatus int
		wantBody   string // prefix
		wantAlt    bool
	}{
		{"echo h1", "GET", "/", false, 1, "", false, 200, `{"hostname":"pod-1","proto":"HTTP/1.1"`, false},
		{"echo over TLS", "GET", "/", true, 2, "", false, 200, `{"hostname":"pod-1","proto":"HTTP/2.0"`, true},
		{"any path echoes", "GET", "/x?y=1", false, 1, "", false, 200, `{"hostname":"pod-1"`, false},
		{"healthz", "GET", "/healthz", false, 1, "", false, 200, "ok", false},
		{"readyz", "GET", "/readyz", false, 1, "", false, 200, "ready", false},
		{"body too large", "POST", "/", false, 1, strings.Repeat("x", MaxBodyBytes+1), false, 413, "request body too large", false},
		{"readyz draining", "GET", "/readyz", false, 1, "", true, 503, "draining", false},
		{"healthz draining", "GET", "/healthz", false, 1, "", true, 200, "ok", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.draining {
				h.SetDraining()
			}
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.ProtoMajor = tc.protoMajor
			req.Proto = map[int]string{1: "HTTP/1.1", 2: "HTTP/2.0"}[tc.protoMajor]
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || !strings.HasPrefix(rec.Body.String(), tc.wantBody) {
				t.Errorf("got %d %q, want %d %q...", rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
			if rec.Header().Get("X-Served-By") != "pod-1" {
				t.Errorf("X-Served-By = %q", rec.Header().Get("X-Served-By"))
			}
			if got := rec.Header().Get("Alt-Svc") != ""; got != tc.wantAlt {
				t.Errorf("Alt-Svc present %v, want %v", got, tc.wantAlt)
			}
		})
	}
	if n := strings.Count(logBuf.String(), "\n"); n != len(tests) {
		t.Errorf("%d access log lines for %d requests:\n%s", n, len(tests), logBuf.String())
	}
}

// TestConnectionRecycling: the request that reaches --max-conn-requests
// says Connection: close (h1, h2), or calls GoAway (h3).
func TestConnectionRecycling(t *testing.T) {
	h := New(Config{Pod: "p", Policy: connstate.Policy{MaxRequests: 2}, Metrics: metrics.New()})
	for _, proto := range []int{1, 2, 3} {
		st := connstate.New(time.Now())
		goAways := 0
		if proto == 3 {
			st.GoAway = func() { goAways++ }
		}
		var closes []string
		for i := range 2 {
			req := httptest.NewRequest("GET", "/", nil)
			req.ProtoMajor = proto
			req = req.WithContext(connstate.With(req.Context(), st))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body Response
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.ConnRequests != i+1 {
				t.Fatalf("h%d request %d: %v %+v", proto, i, err, body)
			}
			closes = append(closes, rec.Header().Get("Connection"))
		}
		want := []string{"", "close"}
		if proto == 3 {
			want = []string{"", ""}
			if goAways != 1 {
				t.Errorf("h3: GoAway called %d times, want 1", goAways)
			}
		}
		if closes[0] != want[0] || closes[1] != want[1] {
			t.Errorf("h%d: Connection headers %q, want %q", proto, closes, want)
		}
	}
}

func TestDelayAndClientGone(t *testing.T) {
	h := New(Config{Pod: "p", Delay: 50 * time.Millisecond, Metrics: metrics.New()})
	began := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if d := time.Since(began); rec.Code != 200 || d < 50*time.Millisecond {
		t.Errorf("status %d after %v, want 200 after >= 50ms", rec.Code, d)
	}
	req := httptest.NewRequest("GET", "/", nil)
	ctx, cancel := context.WithCancel(req.Context())
	cancel()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req.WithContext(ctx))
	if rec.Body.Len() != 0 {
		t.Errorf("answered a gone client: %q", rec.Body.String())
	}
}
