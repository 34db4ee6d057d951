package http3

import (
	"syscall"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/echo-server/echotest"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkModuleGet measures one VU's client.get() through the JS module
// (goja call, request, samples, response object) on a reused connection.
// Besides ns/op (wall clock, noisy on a shared machine) it reports this
// process's CPU per request (cpu-µs/op; the echo-server is another
// process), which is what an A/B of a change should compare.
func BenchmarkModuleGet(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchModule(b, `c.get(U)`) })
	// params parsed per request: headers, tags, responseType
	b.Run("params", func(b *testing.B) {
		benchModule(b, `c.get(U, {headers: {"X-A": "1"}, tags: {name: "n"}, responseType: "none"})`)
	})
	// what a script usually reads of a response
	b.Run("check", func(b *testing.B) { benchModule(b, `const r = c.get(U); r.status === 200 && r.body.length > 0`) })
}

func benchModule(b *testing.B, body string) {
	pki := echotest.Certs(b)
	srv := echotest.Start(b, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
	vu := newVU(b, map[string]any{"U": srv.H3URL(), "CA": pki.CA})
	if _, err := vu.RT.RunString(`var c = new http3.Client({caCerts: CA}); function f() { ` + body + ` }`); err != nil {
		b.Fatal(err)
	}
	vu.StartIteration(0)
	f, ok := goja.AssertFunction(vu.RT.Get("f"))
	if !ok {
		b.Fatal("f is not a function")
	}
	if _, err := f(goja.Undefined()); err != nil { // dial first
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNow()
	for range b.N {
		if _, err := f(goja.Undefined()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
