package report

import (
	"math"
	"sort"
)

// Histogram keeps latency values (milliseconds) in logarithmic buckets 1%
// wide, so quantiles are within ~1% whatever the sample count, in memory
// bounded by the value range rather than by the number of samples.
type Histogram struct {
	counts map[int32]uint64
	total  uint64
	max    float64
}

const (
	histMin    = 0.001 // 1 µs, in ms: anything below falls in bucket 0
	histGrowth = 1.01
)

var logGrowth = math.Log(histGrowth)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{counts: map[int32]uint64{}} }

func bucketOf(v float64) int32 {
	if !(v > histMin) { // also catches NaN
		return 0
	}
	return int32(math.Log(v/histMin)/logGrowth) + 1
}

// bucketValue is a representative value of bucket b (its geometric middle).
func bucketValue(b int32) float64 {
	if b <= 0 {
		return 0
	}
	lo := histMin * math.Pow(histGrowth, float64(b-1))
	return lo * math.Sqrt(histGrowth)
}

// Add records one value.
func (h *Histogram) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	h.counts[bucketOf(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for b, c := range o.counts {
		h.counts[b] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest value recorded (exact).
func (h *Histogram) Max() float64 { return h.max }

// Quantile returns the q-quantile (0..1) of the recorded values, 0 when empty.
func (h *Histogram) Quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	keys := make([]int32, 0, len(h.counts))
	for b := range h.counts {
		keys = append(keys, b)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for _, b := range keys {
		seen += h.counts[b]
		if seen >= rank {
			return math.Min(bucketValue(b), h.max)
		}
	}
	return h.max
}
