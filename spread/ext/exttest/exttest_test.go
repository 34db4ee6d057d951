package exttest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
)

// TestRunStringEventLoop: RunString waits for callbacks a module
// registered, returns a promise's value and reports unhandled rejections,
// as the engine's VUs do.
func TestRunStringEventLoop(t *testing.T) {
	v := exttest.New(nil)
	rt := v.Runtime()
	_ = rt.Set("later", func(ms int, val goja.Value) *goja.Object {
		p, resolve, _ := rt.NewPromise()
		done := v.RegisterCallback()
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { done(func() error { return resolve(val) }) })
		return rt.ToValue(p).ToObject(rt)
	})
	start := time.Now()
	res, err := v.RunString(`(async () => (await later(30, 2)) + 1)()`)
	if err != nil {
		t.Fatal(err)
	}
	if res.ToInteger() != 3 || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("got %v after %s", res, time.Since(start))
	}
	_, err = v.RunString(`later(5, 0).then(() => { throw new Error('late boom'); })`)
	if err == nil || !strings.Contains(err.Error(), "Uncaught (in promise) Error: late boom") {
		t.Fatalf("want an uncaught rejection, got %v", err)
	}
	var _ ext.VU = v
}
