package timers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/internal/modules/timers"
)

func newVU(t *testing.T) *exttest.VU {
	t.Helper()
	v := exttest.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	v.Ctx = ctx
	for k, fn := range timers.Globals(v) {
		_ = v.RT.Set(k, fn)
	}
	return v
}

// TestTimers checks the documented behaviour: order by deadline then
// creation, microtasks before timers, arguments, clear, intervals, and
// that the run waits for pending timers.
func TestTimers(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"order", `const out = [];
			setTimeout(() => out.push('c'), 30);
			setTimeout(() => out.push('a'), 0);
			setTimeout(() => out.push('b'), 0);
			Promise.resolve().then(() => out.push('micro'));
			out.push('sync');
			new Promise((r) => setTimeout(r, 50)).then(() => out.join())`, "sync,micro,a,b,c"},
		{"args", `new Promise((r) => setTimeout((x, y) => r(x + y), 1, 2, 3))`, "5"},
		{"clear", `const out = [];
			const id = setTimeout(() => out.push('no'), 10);
			clearTimeout(id); clearTimeout(undefined); clearTimeout(9999);
			new Promise((r) => setTimeout(() => r(out.length), 30))`, "0"},
		{"interval", `new Promise((r) => { let n = 0; const id = setInterval(() => { if (++n === 3) { clearInterval(id); r(n); } }, 5); })`, "3"},
		{"await", `(async () => { const t0 = Date.now(); await new Promise((r) => setTimeout(r, 40)); return Date.now() - t0 >= 39; })()`, "true"},
		{"ids", `const a = setTimeout(() => {}, 1), b = setInterval(() => {}, 1); clearInterval(b); typeof a === 'number' && b > a`, "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVU(t)
			res, err := v.RunString(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if res.String() != tc.want {
				t.Fatalf("got %s, want %s", res, tc.want)
			}
		})
	}
}

// TestTimerWaitAndErrors: the run lasts until the last timer fired; an
// exception in a timer callback ends the run with it; a non-function is
// a TypeError.
func TestTimerWaitAndErrors(t *testing.T) {
	v := newVU(t)
	start := time.Now()
	if _, err := v.RunString(`globalThis.hit = false; setTimeout(() => { globalThis.hit = true; }, 60)`); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond || !v.RT.Get("hit").ToBoolean() {
		t.Fatalf("run ended after %s with the timer unfired", d)
	}
	_, err := v.RunString(`setTimeout(() => { throw new Error('in timer'); }, 1)`)
	if err == nil || !strings.Contains(err.Error(), "in timer") {
		t.Fatalf("want the timer's exception, got %v", err)
	}
	if _, err := v.RunString(`setTimeout('code', 1)`); err == nil || !strings.Contains(err.Error(), "TypeError") {
		t.Fatalf("want a TypeError, got %v", err)
	}
	// a pending interval holds the run until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	v.Ctx = ctx
	start = time.Now()
	if _, err := v.RunString(`setInterval(() => {}, 5)`); err == nil {
		t.Fatal("an interval never cleared must keep the run until it is interrupted")
	}
	if d := time.Since(start); d < 70*time.Millisecond || d > 3*time.Second {
		t.Fatalf("interrupted after %s", d)
	}
	v.EndIteration() // clears the table, as the engine does after each iteration
	v.Ctx = context.Background()
	if _, err := v.RunString(`new Promise((r) => setTimeout(r, 1))`); err != nil {
		t.Fatalf("timers after an interrupted run: %v", err)
	}
}
