package k6http

import (
	"fmt"
	"testing"
	"time"
)

// TestAsyncRequestManyInFlight starts 20 requests from one VU that each
// take 1 s at the server: they must overlap (the server sees them at
// once) and the promises resolve with k6 response objects.
func TestAsyncRequestManyInFlight(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	vu.StartIteration(0)
	start := time.Now()
	v, err := vu.RunString(fmt.Sprintf(`(async function(){
		var ps = [];
		for (var i = 0; i < 20; i++) ps.push(http.asyncRequest('GET', %q + '/?delay=1s&i=' + i));
		var rs = await Promise.all(ps);
		var bad = await http.asyncRequest('GET', 'http://127.0.0.1:1/');
		return rs.filter(function(r){ return r.status === 200 && r.pod === 'pod-go'; }).length + ',' + bad.error_code;
	})()`, ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if v.String() != "20,1212" {
		t.Fatalf("got %s, want 20 good responses and a refused one (1212)", v)
	}
	if m := ts.maxIn.Load(); m < 20 {
		t.Fatalf("at most %d requests in flight at the server, want 20", m)
	}
	if took > 10*time.Second {
		t.Fatalf("20 overlapping 1 s requests took %v", took)
	}
	if n := len(vu.SamplesOf("http_reqs")); n != 21 {
		t.Fatalf("%d http_reqs samples, want 21", n)
	}
}

// TestAsyncRequestThrow: with throw, a failed request rejects the promise.
func TestAsyncRequestThrow(t *testing.T) {
	vu := newVU(t, map[string]any{"throw": true})
	vu.StartIteration(0)
	v, err := vu.RunString(`(async function(){
		try { await http.asyncRequest('GET', 'http://127.0.0.1:1/'); return 'resolved'; }
		catch (e) { return 'rejected: ' + e; }
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); len(s) < 9 || s[:9] != "rejected:" {
		t.Fatalf("got %q, want a rejection", s)
	}
}
