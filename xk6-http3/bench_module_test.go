package http3

import (
	"testing"

	"spread.dev/echo-server/echotest"
)

// BenchmarkModuleGet measures one VU's client.get() through the JS module
// (goja call, request, samples, response object) on a reused connection.
func BenchmarkModuleGet(b *testing.B) {
	pki := echotest.Certs(b)
	srv := echotest.Start(b, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
	vu := newVU(b, map[string]any{"U": srv.H3URL(), "CA": pki.CA})
	if _, err := vu.RT.RunString(`var c = new http3.Client({caCerts: CA}); function f() { return c.get(U).status }`); err != nil {
		b.Fatal(err)
	}
	vu.StartIteration(0)
	f, _ := vu.RT.RunString(`f`)
	_ = f
	b.ResetTimer()
	for range b.N {
		if _, err := vu.RT.RunString(`f()`); err != nil {
			b.Fatal(err)
		}
	}
}
