package metrics

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"spread.dev/spread/ext"
)

// sink aggregates the samples of one metric or sub-metric.
type sink interface {
	add(v float64)
	// stat returns one aggregated value (threshold methods and summary stats).
	stat(name string, pct float64, elapsed time.Duration) float64
	// count is the number of samples seen.
	count() int64
}

func newSink(t ext.MetricType, contains ext.ValueType) sink {
	switch t {
	case ext.Counter:
		return &counterSink{}
	case ext.Gauge:
		return &gaugeSink{}
	case ext.Rate:
		return &rateSink{}
	}
	return newTrendSink(contains)
}

// counterSink sums values; its rate is per second of test time.
type counterSink struct {
	n   int64
	sum float64
}

func (s *counterSink) add(v float64) { s.n++; s.sum += v }
func (s *counterSink) count() int64  { return s.n }
func (s *counterSink) stat(name string, _ float64, elapsed time.Duration) float64 {
	switch name {
	case "count":
		return s.sum
	case "rate":
		if elapsed <= 0 {
			return 0
		}
		return s.sum / elapsed.Seconds()
	}
	return 0
}

// gaugeSink keeps the last value and the extremes.
type gaugeSink struct {
	n            int64
	last, mn, mx float64
}

func (s *gaugeSink) add(v float64) {
	if s.n == 0 || v < s.mn {
		s.mn = v
	}
	if s.n == 0 || v > s.mx {
		s.mx = v
	}
	s.last = v
	s.n++
}
func (s *gaugeSink) count() int64 { return s.n }
func (s *gaugeSink) stat(name string, _ float64, _ time.Duration) float64 {
	switch name {
	case "value":
		return s.last
	case "min":
		return s.mn
	case "max":
		return s.mx
	}
	return 0
}

// rateSink counts non-zero samples among all samples.
type rateSink struct {
	n, nonZero int64
}

func (s *rateSink) add(v float64) {
	s.n++
	if v != 0 {
		s.nonZero++
	}
}
func (s *rateSink) count() int64 { return s.n }
func (s *rateSink) stat(name string, _ float64, _ time.Duration) float64 {
	switch name {
	case "rate":
		if s.n == 0 {
			return 0
		}
		return float64(s.nonZero) / float64(s.n)
	case "passes":
		return float64(s.nonZero)
	case "fails":
		return float64(s.n - s.nonZero)
	}
	return 0
}

// Trend histogram geometry. Time trends (ms) keep 0.1 µs resolution up to
// one hour; other trends (counts, bytes, custom numbers) keep 0.001
// resolution up to 1e12. Both with 3 significant digits, so a percentile is
// within 0.1% of the recorded value; 190-330 KiB per histogram whatever the
// sample count. Values beyond the range are clamped in the histogram only
// (min, max, avg stay exact).
const (
	timeScale    = 10_000.0           // histogram units per ms (0.1 µs)
	timeHighest  = 3_600_000 * 10_000 // 1 hour
	otherScale   = 1000.0             // histogram units per unit (0.001)
	otherHighest = 1e15               // 1e12 units
	trendDigits  = 3
)

// exactLimit is how many values a trend keeps verbatim: up to it,
// percentiles are exact and interpolated as k6 computes them (short tests
// match k6 to the digit); beyond it only the histograms answer.
const exactLimit = 1024

// trendSink keeps exact count, sum, min and max, and HDR histograms for
// percentiles: one for values >= 0 and, created on the first negative
// value, one for the magnitudes of negative values. The first exactLimit
// values are also kept verbatim.
type trendSink struct {
	exact    []float64
	sorted   bool
	n        int64
	sum      float64
	mn, mx   float64
	scale    float64
	highest  int64
	pos, neg *hdr.Histogram
	clamped  int64
}

func newTrendSink(contains ext.ValueType) *trendSink {
	s := &trendSink{scale: otherScale, highest: otherHighest}
	if contains == ext.Time {
		s.scale, s.highest = timeScale, timeHighest
	}
	s.pos = hdr.New(1, s.highest, trendDigits)
	return s
}

func (s *trendSink) add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if s.n == 0 || v < s.mn {
		s.mn = v
	}
	if s.n == 0 || v > s.mx {
		s.mx = v
	}
	s.n++
	s.sum += v
	if s.n <= exactLimit {
		s.exact = append(s.exact, v)
		s.sorted = false
	} else {
		s.exact = nil
	}
	h := s.pos
	if v < 0 {
		if s.neg == nil {
			s.neg = hdr.New(1, s.highest, trendDigits)
		}
		h, v = s.neg, -v
	}
	u := math.Round(v * s.scale)
	if u > float64(s.highest) {
		u = float64(s.highest)
		s.clamped++
	}
	_ = h.RecordValue(int64(u))
}

func (s *trendSink) count() int64 { return s.n }

func (s *trendSink) stat(name string, pct float64, _ time.Duration) float64 {
	if s.n == 0 {
		return 0
	}
	switch name {
	case "avg":
		return s.sum / float64(s.n)
	case "min":
		return s.mn
	case "max":
		return s.mx
	case "count":
		return float64(s.n)
	case "med":
		return s.percentile(50)
	}
	if strings.HasPrefix(name, "p(") {
		return s.percentile(pct)
	}
	return 0
}

// percentile reads the histograms and keeps the answer within the exact
// min/max, since a bucket's representative value may lie outside them.
func (s *trendSink) percentile(p float64) float64 {
	switch {
	case p <= 0:
		return s.mn
	case p >= 100:
		return s.mx
	}
	if s.exact != nil {
		if !s.sorted {
			sort.Float64s(s.exact)
			s.sorted = true
		}
		return interpolate(s.exact, p)
	}
	var v float64
	negN := int64(0)
	if s.neg != nil {
		negN = s.neg.TotalCount()
	}
	if rank := p / 100 * float64(s.n); negN > 0 && rank <= float64(negN) {
		// The rank-th smallest value is negative: the (negN-rank)-th
		// smallest magnitude, read as a percentile of the magnitudes.
		q := 100 * (1 - rank/float64(negN))
		v = -float64(s.neg.ValueAtPercentile(q)) / s.scale
	} else {
		q := 100 * (rank - float64(negN)) / float64(s.n-negN)
		v = float64(s.pos.ValueAtPercentile(q)) / s.scale
	}
	if v < s.mn {
		v = s.mn
	}
	if v > s.mx {
		v = s.mx
	}
	return v
}

// interpolate is k6's percentile of sorted values: linear interpolation
// between the closest ranks.
func interpolate(sorted []float64, p float64) float64 {
	rank := p / 100 * float64(len(sorted)-1)
	lo := math.Floor(rank)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (rank-lo)*(sorted[i+1]-sorted[i])
}

// percentileOf parses "p(N)" for summary stats.
func percentileOf(stat string) (float64, bool) {
	if !strings.HasPrefix(stat, "p(") || !strings.HasSuffix(stat, ")") {
		return 0, false
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(stat[2:len(stat)-1]), 64)
	if err != nil || p < 0 || p > 100 {
		return 0, false
	}
	return p, true
}
