// Package timers implements setTimeout, clearTimeout, setInterval and
// clearInterval on the VU's event loop: as globals (see package globals)
// and as the module k6/timers, as k6 documents them.
//
// A VU's timers are kept in one table ordered by deadline with one Go
// timer for the earliest, so timers due at the same time run in the
// order they were set (a Go timer per JS timer would race). While any
// timer is active the table holds one reservation on the event loop
// (ext.VU.RegisterCallback), so the iteration waits for it, as in k6.
package timers

import (
	"container/heap"
	"math"
	"sync"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

// Names are the globals (and k6/timers exports) this package provides.
var Names = []string{"setTimeout", "clearTimeout", "setInterval", "clearInterval"}

func init() { ext.Register("k6/timers", module{}) }

type module struct{}

// NewModuleInstance exports the VU's global timer functions, so k6/timers
// and the globals share one timer table.
func (module) NewModuleInstance(vu ext.VU) ext.Instance { return instance{vu} }

type instance struct{ vu ext.VU }

func (i instance) Exports() ext.Exports {
	g := i.vu.Runtime().GlobalObject()
	named := map[string]any{}
	for _, n := range Names {
		v := g.Get(n)
		if _, ok := goja.AssertFunction(v); !ok {
			// the script replaced the global: give the module its own table.
			return ext.Exports{Named: Globals(i.vu)}
		}
		named[n] = v
	}
	return ext.Exports{Named: named}
}

// Globals builds one VU's timer functions, sharing one table.
func Globals(vu ext.VU) map[string]any {
	t := &table{vu: vu, rt: vu.Runtime(), byID: map[int64]*timer{}}
	vu.OnIterationEnd(t.clearAll)
	return map[string]any{
		"setTimeout":    func(c goja.FunctionCall) goja.Value { return t.set(c, false) },
		"setInterval":   func(c goja.FunctionCall) goja.Value { return t.set(c, true) },
		"clearTimeout":  t.clear,
		"clearInterval": t.clear,
	}
}

type timer struct {
	id       int64
	seq      uint64
	when     time.Time
	every    time.Duration // > 0 for setInterval
	fn       goja.Callable
	args     []goja.Value
	index    int // in the heap, -1 when out of it
	canceled bool
}

// table is one VU's timers. Every field but the ones under mu is for the
// VU goroutine only.
type table struct {
	vu   ext.VU
	rt   *goja.Runtime
	byID map[int64]*timer
	due  timerHeap
	last int64
	seq  uint64

	// reserved is the event loop reservation held while timers are
	// active; goTimer fires it at the earliest deadline.
	reserved func(func() error)
	mu       sync.Mutex
	goTimer  *time.Timer
	fired    bool // goTimer fired: reserved is spent, its callback queued
}

func (t *table) set(c goja.FunctionCall, repeat bool) goja.Value {
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		name := "setTimeout"
		if repeat {
			name = "setInterval"
		}
		panic(t.rt.NewTypeError("%s: the first argument must be a function", name))
	}
	d := delay(c.Argument(1))
	var args []goja.Value
	if len(c.Arguments) > 2 {
		args = append(args, c.Arguments[2:]...)
	}
	t.last++
	t.seq++
	tm := &timer{id: t.last, seq: t.seq, when: time.Now().Add(d), fn: fn, args: args}
	if repeat {
		// browsers and k6 clamp a zero interval rather than spin.
		tm.every = max(d, time.Millisecond)
	}
	t.byID[tm.id] = tm
	heap.Push(&t.due, tm)
	t.arm()
	return t.rt.ToValue(tm.id)
}

// delay converts a JS delay in milliseconds; NaN, negative and missing
// mean 0, as in browsers.
func delay(v goja.Value) time.Duration {
	if v == nil || goja.IsUndefined(v) {
		return 0
	}
	ms := v.ToFloat()
	if math.IsNaN(ms) || ms <= 0 {
		return 0
	}
	if ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		ms = float64(math.MaxInt64 / int64(time.Millisecond))
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func (t *table) clear(id goja.Value) {
	if id == nil || goja.IsUndefined(id) || goja.IsNull(id) {
		return
	}
	tm, ok := t.byID[id.ToInteger()]
	if !ok {
		return
	}
	delete(t.byID, tm.id)
	tm.canceled = true
	if tm.index >= 0 {
		heap.Remove(&t.due, tm.index)
	}
	t.arm()
}

// arm makes the Go timer fire at the earliest deadline, taking the loop
// reservation when timers become active and giving it back when none is.
func (t *table) arm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fired {
		// run() is queued and re-arms when it has run the due timers.
		return
	}
	if len(t.due) == 0 {
		if t.reserved != nil && t.goTimer != nil && t.goTimer.Stop() {
			res := t.reserved
			t.reserved = nil
			res(func() error { return nil }) // release the reservation
		}
		return
	}
	wait := time.Until(t.due[0].when)
	if t.reserved == nil {
		t.reserved = t.vu.RegisterCallback()
	}
	if t.goTimer == nil {
		t.goTimer = time.AfterFunc(wait, t.fire)
		return
	}
	// A fire already under way (blocked on mu) spends the reservation
	// and queues run(), which re-arms: a second, early fire is harmless.
	t.goTimer.Stop()
	t.goTimer.Reset(wait)
}

// fire runs on the Go timer's goroutine: hand run() to the VU.
func (t *table) fire() {
	t.mu.Lock()
	res := t.reserved
	t.reserved = nil
	t.fired = res != nil
	t.mu.Unlock()
	if res != nil {
		res(t.run)
	}
}

// run, on the VU goroutine, calls every timer that is due, in deadline
// then creation order, then re-arms for the rest.
func (t *table) run() error {
	t.mu.Lock()
	t.fired = false
	t.mu.Unlock()
	now := time.Now()
	for len(t.due) > 0 && !t.due[0].when.After(now) {
		tm := heap.Pop(&t.due).(*timer)
		if tm.every > 0 {
			tm.when = now.Add(tm.every)
			t.seq++
			tm.seq = t.seq
		} else {
			delete(t.byID, tm.id)
		}
		if _, err := tm.fn(goja.Undefined(), tm.args...); err != nil {
			t.arm()
			return err
		}
		if tm.every > 0 && !tm.canceled {
			heap.Push(&t.due, tm)
		}
	}
	t.arm()
	return nil
}

// clearAll drops every timer at the end of an iteration: one that ended
// normally has none left; one cut short must not fire into the next.
func (t *table) clearAll() {
	t.mu.Lock()
	if t.goTimer != nil {
		t.goTimer.Stop()
	}
	// the event loop dropped the reservation with the iteration.
	t.reserved = nil
	t.fired = false
	t.mu.Unlock()
	for _, tm := range t.byID {
		tm.canceled = true
	}
	clear(t.byID)
	t.due = t.due[:0]
}

// timerHeap orders timers by deadline, then creation.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *timerHeap) Push(x any)   { tm := x.(*timer); tm.index = len(*h); *h = append(*h, tm) }
func (h *timerHeap) Pop() any {
	old := *h
	tm := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	tm.index = -1
	return tm
}
