package k6http

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// BenchmarkGet measures one http.get from JS through the module, response
// object and samples included, against an in-process server, or against
// $K6HTTP_BENCH_URL (an echo-server in another process, say) when set:
// then the cpu-ns/op it reports is the client's own CPU per request, the
// figure that matters on a machine shared with the server under test. An
// https URL is HTTP/2 by ALPN (SPREAD_K6HTTP_H2=nethttp: on net/http's
// Transport instead of h2sync.go).
func BenchmarkGet(b *testing.B) {
	target := os.Getenv("K6HTTP_BENCH_URL")
	if target == "" {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", "pod-a")
			_, _ = w.Write([]byte(`{"hostname":"pod-a","proto":"HTTP/1.1"}`))
		}))
		defer srv.Close()
		target = srv.URL
	}
	var opts map[string]any
	if strings.HasPrefix(target, "https:") {
		opts = map[string]any{"insecureSkipTLSVerify": true} // echo-server's self-signed certificate
	}
	vu := newVU(b, opts)
	vu.StartIteration(0)
	fn, err := vu.RT.RunString(fmt.Sprintf(`(function(){ http.get(%q); })`, target))
	if err != nil {
		b.Fatal(err)
	}
	call, _ := goja.AssertFunction(fn)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := call(nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
