package vu

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/js"
)

// asyncMod is a test module with promise-returning functions built on
// RegisterCallback, the way k6/http's async API and timers use it.
type asyncMod struct {
	mu   sync.Mutex
	late chan func(func() error) // never(): the reservation, for the test to redeem late
}

func (m *asyncMod) NewModuleInstance(v ext.VU) ext.Instance { return asyncInst{m, v} }

type asyncInst struct {
	m *asyncMod
	v ext.VU
}

func (i asyncInst) Exports() ext.Exports {
	rt := i.v.Runtime()
	return ext.Exports{Named: map[string]any{
		// later(ms, value) resolves with value after ms, from another goroutine.
		"later": func(ms int, val goja.Value) *goja.Object {
			p, resolve, _ := rt.NewPromise()
			done := i.v.RegisterCallback()
			time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
				done(func() error { return resolve(val) })
			})
			return rt.ToValue(p).ToObject(rt)
		},
		// failLater(ms) rejects with an Error after ms.
		"failLater": func(ms int, msg string) *goja.Object {
			p, _, reject := rt.NewPromise()
			done := i.v.RegisterCallback()
			time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
				done(func() error { return reject(rt.NewGoError(errors.New(msg))) })
			})
			return rt.ToValue(p).ToObject(rt)
		},
		// never() takes a reservation the module only hands to the test.
		"never": func() {
			i.m.late <- i.v.RegisterCallback()
		},
		// goErr() makes its callback fail: an uncaught exception.
		"goErr": func(msg string) {
			done := i.v.RegisterCallback()
			go done(func() error { return errors.New(msg) })
		},
	}}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const asyncScript = `
import a from 'k6/x/async';
export const order = [];
let initDone = false;
a.later(20, 'i').then(() => { initDone = true; });
export default async function () {
  order.length = 0;
  order.push('start', initDone);
  const v = await a.later(60, 'x');
  order.push(v);
  await Promise.resolve();
  order.push('end');
}
export async function rejects() {
  await a.later(5, 0);
  throw new Error('boom');
}
export function unhandled() { Promise.reject(new Error('nobody')); }
export function handled() { Promise.reject(new Error('ok')).catch(() => {}); }
export async function lateCatch() { const p = Promise.reject(new Error('caught later')); await null; p.catch(() => {}); }
export function goReject() { return a.failLater(5, 'go side'); }
export function callbackErr() { a.goErr('from go'); }
export function stuck() { a.never(); }
export function plainValue() { return Promise.reject('just a string'); }
export async function setup() { return { n: await a.later(5, 42) }; }
`

func newAsyncVU(t *testing.T) (*VU, *Shared, *asyncMod, *sink, *syncBuf) {
	t.Helper()
	m := &asyncMod{late: make(chan func(func() error), 4)}
	s := &sink{}
	sh := newShared(t, asyncScript, &probe{}, s)
	sh.Resolver.Builtins["k6/x/async"] = m
	logs := &syncBuf{}
	sh.Logger = js.NewLogger(logs, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	v, err := New(ctx, sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return v, sh, m, s, logs
}

// TestAsyncIteration: an async default function's iteration lasts until
// its promise settles; init waits for what it started too.
func TestAsyncIteration(t *testing.T) {
	v, sh, _, s, _ := newAsyncVU(t)
	start := time.Now()
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("iteration ended after %s, before the awaited 60ms", d)
	}
	got, err := v.JSON(v.Export("order"))
	if err != nil {
		t.Fatal(err)
	}
	if got != `["start",true,"x","end"]` {
		t.Fatalf("order %s: want init's promise settled and the iteration to run to its end", got)
	}
	if n := len(s.of(ext.MetricIterations)); n != 1 {
		t.Fatalf("%d iteration samples", n)
	}
	if c, i := sh.IterationsCompleted.Load(), sh.IterationsInterrupted.Load(); c != 1 || i != 0 {
		t.Fatalf("completed %d interrupted %d", c, i)
	}
	res, err := v.Call(context.Background(), "setup", "::setup")
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := v.JSON(res); j != `{"n":42}` {
		t.Fatalf("async setup() gave %s", j)
	}
}

// TestUncaughtInPromise is the regression test of issue 10's bug: a
// rejecting async function, or a rejection nobody handles, is logged as
// "Uncaught (in promise)" with the JS stack in the user's file, and the
// iteration counts as interrupted; the VU goes on.
func TestUncaughtInPromise(t *testing.T) {
	for _, tc := range []struct {
		exec, want, pos string
	}{
		{"rejects", "Uncaught (in promise) Error: boom", "script.js:16:9"},
		{"unhandled", "Uncaught (in promise) Error: nobody", "script.js:18:46"},
		{"goReject", "Uncaught (in promise) go side", ""},
		{"plainValue", "Uncaught (in promise) just a string", ""},
		{"callbackErr", "from go", ""},
	} {
		t.Run(tc.exec, func(t *testing.T) {
			v, sh, _, s, logs := newAsyncVU(t)
			err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: tc.exec})
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Fatalf("want a ScriptError, got %v", err)
			}
			msg := se.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.pos) {
				t.Fatalf("error %q: want %q at %q", msg, tc.want, tc.pos)
			}
			if !strings.Contains(logs.String(), "level=error") || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("not logged: %q", logs.String())
			}
			if c, i := sh.IterationsCompleted.Load(), sh.IterationsInterrupted.Load(); c != 0 || i != 1 {
				t.Fatalf("completed %d interrupted %d: want it interrupted", c, i)
			}
			if n := len(s.of(ext.MetricIterations)); n != 1 {
				t.Fatalf("%d iteration samples: k6 still counts the iteration", n)
			}
			if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"}); err != nil {
				t.Fatalf("the next iteration: %v", err)
			}
		})
	}
	v, _, _, _, _ := newAsyncVU(t)
	for _, exec := range []string{"handled", "lateCatch"} {
		if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: exec}); err != nil {
			t.Fatalf("%s: a handled rejection is no error: %v", exec, err)
		}
	}
}

// TestLoopInterrupt: the end of the test (gracefulStop) stops a VU that
// waits on a reservation nobody redeems; a late callback of that
// iteration is dropped, and the VU is reusable.
func TestLoopInterrupt(t *testing.T) {
	v, sh, m, _, _ := newAsyncVU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := v.RunIteration(ctx, executor.Iteration{Scenario: "a", Exec: "stuck"})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("interrupt took %s", d)
	}
	if n := sh.IterationsInterrupted.Load(); n != 1 {
		t.Fatalf("interrupted %d", n)
	}
	late := <-m.late
	ran := make(chan struct{}, 1)
	late(func() error { ran <- struct{}{}; return errors.New("stale") })
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"}); err != nil {
		t.Fatalf("next iteration after a stale callback: %v", err)
	}
	select {
	case <-ran:
		t.Fatal("a callback of an interrupted iteration ran in the next one")
	default:
	}
}
