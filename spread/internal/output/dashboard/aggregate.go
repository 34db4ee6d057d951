package dashboard

import (
	"math"
	"sort"
	"time"

	"spread.dev/spread/ext"
)

// Metric names the dashboard reads (k6's, DESIGN.md section 4).
const (
	mReqs       = "http_reqs"
	mFailed     = "http_req_failed"
	mDuration   = "http_req_duration"
	mBlocked    = "http_req_blocked"
	mConnecting = "http_req_connecting"
	mTLS        = "http_req_tls_handshaking"
	mWaiting    = "http_req_waiting"
	mGRPC       = "grpc_req_duration"
	mWSMsgs     = "ws_msgs_received"
	mWSSessions = "ws_sessions"
	mVUs        = "vus"
	mVUsMax     = "vus_max"
	mIters      = "iterations"
	mSent       = "data_sent"
	mRecv       = "data_received"
)

// phases are the request phases the timings page draws, in order.
var phases = [...]string{mBlocked, mConnecting, mTLS, mWaiting}

// groupKey selects the requests of one filter choice: a protocol (proto
// tag) and a mode (mode tag, set by k6/x/http3 clients); "*" is "any".
// A sample is recorded once, in its (proto, mode) group; the "any" groups
// are merged from those when a period is sent (few groups, once per
// period), which keeps the cost per sample at a few histogram adds.
type groupKey struct{ proto, mode string }

func (k groupKey) String() string { return k.proto + "|" + k.mode }

const anyV = "*"

// podAgg is one pod's requests within one group and one period.
type podAgg struct {
	reqs, failed, conns float64
	dur                 *hist
}

// groupAgg is one group's requests within one period (or the whole run).
type groupAgg struct {
	reqs, failed float64
	dur          *hist
	phase        [len(phases)]*hist
	pods         map[string]*podAgg
}

func newGroupAgg() *groupAgg {
	g := &groupAgg{dur: newHist(), pods: map[string]*podAgg{}}
	for i := range g.phase {
		g.phase[i] = newHist()
	}
	return g
}

func (g *groupAgg) pod(name string) *podAgg {
	p := g.pods[name]
	if p == nil {
		p = &podAgg{dur: newHist()}
		g.pods[name] = p
	}
	return p
}

func (g *groupAgg) merge(o *groupAgg) {
	g.reqs += o.reqs
	g.failed += o.failed
	g.dur.merge(o.dur)
	for i := range g.phase {
		g.phase[i].merge(o.phase[i])
	}
	for name, op := range o.pods {
		p := g.pod(name)
		p.reqs += op.reqs
		p.failed += op.failed
		p.conns += op.conns
		p.dur.merge(op.dur)
	}
}

// combine returns the wire form of every filter choice: each (proto, mode)
// group plus the "any" groups merged from them.
func combine(fine map[groupKey]*groupAgg) map[string]*wireGroup {
	out := make(map[string]*wireGroup, 4*len(fine))
	if len(fine) == 1 {
		// One protocol and mode: the "any" groups are the same numbers.
		for k, g := range fine {
			w := wireOf(g)
			for _, c := range [...]groupKey{{anyV, anyV}, {k.proto, anyV}, {anyV, k.mode}, k} {
				out[c.String()] = w
			}
		}
		return out
	}
	merged := map[groupKey]*groupAgg{}
	for k, g := range fine {
		out[k.String()] = wireOf(g)
		for _, c := range [...]groupKey{{anyV, anyV}, {k.proto, anyV}, {anyV, k.mode}} {
			groupIn(merged, c).merge(g)
		}
	}
	for k, g := range merged {
		out[k.String()] = wireOf(g)
	}
	return out
}

// bucket is one period of the run.
type bucket struct {
	idx               int64
	vus, vusMax       float64
	hasVUs            bool
	iters, sent, recv float64
	groups            map[groupKey]*groupAgg
}

// podSeen is when a pod answered first and last, over the whole run.
type podSeen struct{ first, last time.Time }

// aggregator cuts samples into periods; it is not safe for concurrent use
// (the output holds a lock around it).
type aggregator struct {
	start  time.Time
	period time.Duration

	lastT   time.Time // of the latest sample
	last    reqCtx    // the previous request's lookups
	lastB   *bucket   // the previous sample's period
	buckets map[int64]*bucket
	dirty   map[int64]bool // changed since the last push
	total   map[groupKey]*groupAgg
	seen    map[string]*podSeen
	protos  map[string]bool
	modes   map[string]bool
}

func newAggregator(start time.Time, period time.Duration) *aggregator {
	return &aggregator{start: start, period: period, buckets: map[int64]*bucket{}, dirty: map[int64]bool{},
		total: map[groupKey]*groupAgg{}, seen: map[string]*podSeen{}, protos: map[string]bool{}, modes: map[string]bool{}}
}

func (a *aggregator) bucketAt(t time.Time) *bucket {
	if t.After(a.lastT) {
		a.lastT = t
	}
	idx := int64(t.Sub(a.start) / a.period)
	if idx < 0 {
		idx = 0 // setup() samples before the recorded start
	}
	if a.lastB != nil && a.lastB.idx == idx && a.dirty[idx] {
		return a.lastB // most samples fall in the period of the one before
	}
	b := a.buckets[idx]
	if b == nil {
		b = &bucket{idx: idx, groups: map[groupKey]*groupAgg{}}
		a.buckets[idx] = b
	}
	a.dirty[idx] = true
	a.lastB = b
	return b
}

// groupOf returns the sample's (proto, mode) group and notes both values
// for the page's filters.
func (a *aggregator) groupOf(tags ext.TagSet) groupKey {
	proto, mode := tags.Get("proto"), tags.Get("mode")
	if proto == "" {
		proto = "-"
	}
	if mode == "" {
		mode = "-"
	}
	a.protos[proto] = true
	a.modes[mode] = true
	return groupKey{proto, mode}
}

func groupIn(m map[groupKey]*groupAgg, k groupKey) *groupAgg {
	g := m[k]
	if g == nil {
		g = newGroupAgg()
		m[k] = g
	}
	return g
}

func podOf(tags ext.TagSet) string {
	if p := tags.Get("pod"); p != "" {
		return p
	}
	return "(none)"
}

// reqCtx is where one request's samples go: they share one tag set, so
// the lookups are made once per request, not once per sample.
type reqCtx struct {
	tags       ext.TagSet
	idx        int64
	ok         bool
	pod        string
	bg, tg     *groupAgg // this period's and the run's group
	bpod, tpod *podAgg
}

func (a *aggregator) ctxOf(s *ext.Sample) *reqCtx {
	c := &a.last
	idx := max(int64(s.Time.Sub(a.start)/a.period), 0)
	if c.ok && c.idx == idx && c.tags.Equal(s.Tags) {
		if s.Time.After(a.lastT) {
			a.lastT = s.Time
		}
		return c
	}
	b := a.bucketAt(s.Time)
	k := a.groupOf(s.Tags)
	c.tags, c.idx, c.ok = s.Tags, idx, true
	c.pod = podOf(s.Tags)
	c.bg, c.tg = groupIn(b.groups, k), groupIn(a.total, k)
	c.bpod, c.tpod = c.bg.pod(c.pod), c.tg.pod(c.pod)
	return c
}

// add records one sample; metrics the dashboard does not draw cost one
// switch.
func (a *aggregator) add(s ext.Sample) {
	name := s.Metric.Name
	switch name {
	case mVUs, mVUsMax:
		b := a.bucketAt(s.Time)
		if name == mVUs {
			b.vus, b.hasVUs = s.Value, true
		} else {
			b.vusMax = s.Value
		}
	case mIters:
		a.bucketAt(s.Time).iters += s.Value
	case mSent:
		a.bucketAt(s.Time).sent += s.Value
	case mRecv:
		a.bucketAt(s.Time).recv += s.Value
	case mWSSessions:
		// A WebSocket session is a connection to its pod.
		c := a.ctxOf(&s)
		c.bpod.conns += s.Value
		c.tpod.conns += s.Value
	case mReqs, mGRPC, mWSMsgs:
		// A gRPC call, or an echo on a WebSocket, is a request to the pods
		// as much as an HTTP one is (the experiments count them so too):
		// such runs have no http_reqs and would show no pods otherwise.
		c := a.ctxOf(&s)
		n := s.Value
		if name == mGRPC {
			n = 1
			c.bg.dur.add(s.Value)
			c.tg.dur.add(s.Value)
			c.bpod.dur.add(s.Value)
			c.tpod.dur.add(s.Value)
		}
		c.bg.reqs += n
		c.tg.reqs += n
		c.bpod.reqs += n
		c.tpod.reqs += n
		ps := a.seen[c.pod]
		if ps == nil {
			ps = &podSeen{first: s.Time, last: s.Time}
			a.seen[c.pod] = ps
		}
		if s.Time.Before(ps.first) {
			ps.first = s.Time
		}
		if s.Time.After(ps.last) {
			ps.last = s.Time
		}
	case mFailed:
		if s.Value == 0 {
			return
		}
		c := a.ctxOf(&s)
		c.bg.failed++
		c.tg.failed++
		c.bpod.failed++
		c.tpod.failed++
	case mDuration:
		c := a.ctxOf(&s)
		c.bg.dur.add(s.Value)
		c.tg.dur.add(s.Value)
		c.bpod.dur.add(s.Value)
		c.tpod.dur.add(s.Value)
	case mBlocked, mConnecting, mTLS, mWaiting:
		i := 0
		for i < len(phases) && phases[i] != name {
			i++
		}
		// Phases are drawn per period only: no run totals to keep.
		c := a.ctxOf(&s)
		c.bg.phase[i].add(s.Value)
		// k6 reports 0 for a request on a reused connection, so a
		// positive connecting time is a connection opened.
		if name == mConnecting && s.Value > 0 {
			c.bpod.conns++
			c.tpod.conns++
		}
	}
}

// Wire format: what the page receives (SSE) or finds embedded (export).

type wirePod struct {
	Reqs   float64 `json:"reqs"`
	Failed float64 `json:"failed,omitempty"`
	Conns  float64 `json:"conns,omitempty"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
}

type wireGroup struct {
	Reqs   float64             `json:"reqs"`
	Failed float64             `json:"failed"`
	P50    float64             `json:"p50"`
	P90    float64             `json:"p90"`
	P95    float64             `json:"p95"`
	P99    float64             `json:"p99"`
	Phase  map[string]float64  `json:"phase"` // p95 of each phase, ms
	Pods   map[string]*wirePod `json:"pods"`
}

type wirePoint struct {
	I      int64                 `json:"i"`
	T      float64               `json:"t"` // start of the period, s from the start
	VUs    *float64              `json:"vus,omitempty"`
	VUsMax float64               `json:"vus_max,omitempty"`
	Iters  float64               `json:"iters"`
	Sent   float64               `json:"sent"`
	Recv   float64               `json:"recv"`
	G      map[string]*wireGroup `json:"g"`
}

type wireSeen struct {
	First float64 `json:"first_s"`
	Last  float64 `json:"last_s"`
}

// wireMarker is a lab event drawn on every chart.
type wireMarker struct {
	T     float64 `json:"t"`
	Kind  string  `json:"kind"`
	Pod   string  `json:"pod,omitempty"`
	Label string  `json:"label"`
}

// wireMeta is the run as a whole: sent with every update (it is small).
type wireMeta struct {
	Title   string                `json:"title"`
	Script  string                `json:"script"`
	Start   int64                 `json:"start_ms"`
	PeriodS float64               `json:"period_s"`
	Now     float64               `json:"now_s"`
	End     float64               `json:"end_s"` // time of the last sample`
	Done    bool                  `json:"done"`
	Protos  []string              `json:"protos"`
	Modes   []string              `json:"modes"`
	Seen    map[string]wireSeen   `json:"seen"`
	Total   map[string]*wireGroup `json:"total"`
	Markers []wireMarker          `json:"markers"`
	Lost    int64                 `json:"lost_updates,omitempty"`
}

// r3 keeps three decimals: milliseconds to the microsecond, and a page
// that is a quarter the size.
func r3(v float64) float64 { return math.Round(v*1000) / 1000 }

func wireOf(g *groupAgg) *wireGroup {
	w := &wireGroup{Reqs: g.reqs, Failed: g.failed, Phase: map[string]float64{}, Pods: map[string]*wirePod{}}
	if g.dur.count() > 0 {
		w.P50, w.P90, w.P95, w.P99 = r3(g.dur.quantile(0.5)), r3(g.dur.quantile(0.9)), r3(g.dur.quantile(0.95)), r3(g.dur.quantile(0.99))
	}
	for i, h := range g.phase {
		if h.count() > 0 {
			w.Phase[phases[i]] = r3(h.quantile(0.95))
		}
	}
	for name, p := range g.pods {
		wp := &wirePod{Reqs: p.reqs, Failed: p.failed, Conns: p.conns}
		if p.dur.count() > 0 {
			wp.P50, wp.P95 = r3(p.dur.quantile(0.5)), r3(p.dur.quantile(0.95))
		}
		w.Pods[name] = wp
	}
	return w
}

func (a *aggregator) point(b *bucket) wirePoint {
	p := wirePoint{I: b.idx, T: (time.Duration(b.idx) * a.period).Seconds(), VUsMax: b.vusMax,
		Iters: b.iters, Sent: b.sent, Recv: b.recv, G: map[string]*wireGroup{}}
	if b.hasVUs {
		v := b.vus
		p.VUs = &v
	}
	p.G = combine(b.groups)
	return p
}

// takeDirty returns the periods changed since the last call, in order.
func (a *aggregator) takeDirty() []wirePoint {
	idx := make([]int64, 0, len(a.dirty))
	for i := range a.dirty {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make([]wirePoint, 0, len(idx))
	for _, i := range idx {
		out = append(out, a.point(a.buckets[i]))
	}
	clear(a.dirty)
	return out
}

// all returns every period, in order.
func (a *aggregator) all() []wirePoint {
	idx := make([]int64, 0, len(a.buckets))
	for i := range a.buckets {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make([]wirePoint, 0, len(idx))
	for _, i := range idx {
		out = append(out, a.point(a.buckets[i]))
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// meta describes the run so far.
func (a *aggregator) meta(now time.Time) wireMeta {
	m := wireMeta{Start: a.start.UnixMilli(), PeriodS: a.period.Seconds(), Now: now.Sub(a.start).Seconds(), End: a.lastT.Sub(a.start).Seconds(),
		Protos: sortedKeys(a.protos), Modes: sortedKeys(a.modes), Seen: map[string]wireSeen{}}
	for pod, s := range a.seen {
		m.Seen[pod] = wireSeen{First: r3(s.first.Sub(a.start).Seconds()), Last: r3(s.last.Sub(a.start).Seconds())}
	}
	m.Total = combine(a.total)
	return m
}
