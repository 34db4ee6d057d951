package k6http

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dop251/goja"
)

// BenchmarkGet measures one http.get from JS through the module, response
// object and samples included, against an in-process server.
func BenchmarkGet(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "pod-a")
		_, _ = w.Write([]byte(`{"hostname":"pod-a","proto":"HTTP/1.1"}`))
	}))
	defer srv.Close()
	vu := newVU(b, nil)
	vu.StartIteration(0)
	fn, err := vu.RT.RunString(fmt.Sprintf(`(function(){ http.get(%q); })`, srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	call, _ := goja.AssertFunction(fn)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := call(nil); err != nil {
			b.Fatal(err)
		}
	}
}
