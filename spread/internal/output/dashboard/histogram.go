package dashboard

import (
	"math"
	"sort"
)

// hist is a latency histogram made for the dashboard's hot path: a bucket
// is the value's binary exponent and 64 steps of its mantissa (buckets
// about 1.1% wide), found with math.Frexp instead of a logarithm, and
// zeros (most http_req_connecting values: reused connections) are only
// counted. report.Histogram is exact enough too but costs a math.Log per
// value, which with a dozen values per request was measurable in
// spread's throughput.
type hist struct {
	counts map[int32]uint32
	zeros  uint64
	total  uint64
	max    float64
}

func newHist() *hist { return &hist{counts: map[int32]uint32{}} }

const subBuckets = 64

func histBucket(v float64) int32 {
	f, e := math.Frexp(v) // v = f × 2^e, f in [0.5, 1)
	return int32(e)*subBuckets + int32((f-0.5)*2*subBuckets)
}

func histValue(b int32) float64 {
	e, m := b>>6, b&(subBuckets-1) // floor division: e may be negative
	return math.Ldexp(0.5+(float64(m)+0.5)/(2*subBuckets), int(e))
}

func (h *hist) add(v float64) {
	if !(v > 0) || math.IsInf(v, 1) { // zero, negative, NaN
		if v == 0 {
			h.zeros++
			h.total++
		}
		return
	}
	h.counts[histBucket(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for b, c := range o.counts {
		h.counts[b] += c
	}
	h.zeros += o.zeros
	h.total += o.total
	h.max = math.Max(h.max, o.max)
}

func (h *hist) count() uint64 { return h.total }

// quantile returns the q-quantile (0..1), 0 when empty.
func (h *hist) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank <= h.zeros {
		return 0
	}
	keys := make([]int32, 0, len(h.counts))
	for b := range h.counts {
		keys = append(keys, b)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	seen := h.zeros
	for _, b := range keys {
		seen += uint64(h.counts[b])
		if seen >= rank {
			return math.Min(histValue(b), h.max)
		}
	}
	return h.max
}
