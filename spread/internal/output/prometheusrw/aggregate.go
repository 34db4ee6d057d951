package prometheusrw

import (
	"math"
	"sort"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"

	"spread.dev/spread/ext"
)

// series is the running aggregate of one metric with one tag set, kept for
// the whole run so every push sends cumulative values (counters only grow,
// trend stats cover the run so far), as k6's output does.
type series struct {
	metric *ext.Metric
	labels []prompb.Label // without __name__, sorted

	value float64 // counter sum or gauge last value
	n     int64   // samples (rate: total, trend: count)
	hits  int64   // rate: non-zero samples

	// trend
	sum, mn, mx float64
	h           *hdr.Histogram // |value| in micro-units, for percentiles
	native      map[int32]uint64
	zero        uint64
}

// Trend magnitudes are recorded in thousandths of their unit (µs for
// times, which are in ms) up to 3.6e9 (an hour of µs); larger values
// clamp, and the exact min/max still bound every percentile. Negative
// trend values (rare: custom trends) count by magnitude.
const (
	trendScale   = 1000
	trendHighest = 3_600_000_000
	trendDigits  = 3
	// nativeSchema 3: 8 buckets per power of two (~9% wide), Prometheus'
	// default resolution for native histograms.
	nativeSchema = 3
)

func (s *series) add(v float64, native bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	switch s.metric.Type {
	case ext.Counter:
		s.value += v
		s.n++
	case ext.Gauge:
		s.value = v
		s.n++
	case ext.Rate:
		s.n++
		if v != 0 {
			s.hits++
		}
	case ext.Trend:
		if s.n == 0 || v < s.mn {
			s.mn = v
		}
		if s.n == 0 || v > s.mx {
			s.mx = v
		}
		s.n++
		s.sum += v
		if native {
			s.addNative(v)
			return
		}
		if s.h == nil {
			s.h = hdr.New(1, trendHighest, trendDigits)
		}
		u := math.Round(math.Abs(v) * trendScale)
		if u > trendHighest {
			u = trendHighest
		}
		_ = s.h.RecordValue(int64(u))
	}
}

// unit converts a trend value to what Prometheus expects: seconds for times.
func (s *series) unit(v float64) float64 {
	if s.metric.Contains == ext.Time {
		return v / 1000
	}
	return v
}

func (s *series) stat(st TrendStat) float64 {
	if s.n == 0 {
		return 0
	}
	switch st.Suffix {
	case "avg":
		return s.unit(s.sum / float64(s.n))
	case "min":
		return s.unit(s.mn)
	case "max":
		return s.unit(s.mx)
	case "count":
		return float64(s.n)
	case "sum":
		return s.unit(s.sum)
	}
	if st.Pct <= 0 {
		return s.unit(s.mn)
	}
	if st.Pct >= 100 {
		return s.unit(s.mx)
	}
	v := float64(s.h.ValueAtPercentile(st.Pct)) / trendScale
	if s.mn < 0 {
		// Magnitudes only: fall back to the bounds for negative trends.
		v = math.Max(v, s.mn)
	}
	return s.unit(math.Min(math.Max(v, s.mn), s.mx))
}

// addNative puts v (in its Prometheus unit) into an exponential bucket.
func (s *series) addNative(v float64) {
	v = s.unit(v)
	if s.native == nil {
		s.native = map[int32]uint64{}
	}
	if v <= 0 {
		// Negative trend values are not expected (durations, sizes); they
		// count in the zero bucket rather than being lost.
		s.zero++
		return
	}
	frac, exp := math.Frexp(v) // v = frac × 2^exp, frac in [0.5, 1)
	// Bucket i holds (base^(i-1), base^i], base = 2^(2^-schema).
	idx := int32(math.Ceil((math.Log2(frac) + float64(exp)) * (1 << nativeSchema)))
	s.native[idx]++
}

// histogram returns the native histogram of the trend so far.
func (s *series) histogram() *histogram.Histogram {
	h := &histogram.Histogram{
		Schema:    nativeSchema,
		ZeroCount: s.zero,
		Count:     uint64(s.n),
		Sum:       s.unit(s.sum),
	}
	idx := make([]int32, 0, len(s.native))
	for i := range s.native {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	var prev int64
	for k, i := range idx {
		switch {
		case k == 0:
			h.PositiveSpans = append(h.PositiveSpans, histogram.Span{Offset: i, Length: 1})
		case i == idx[k-1]+1:
			h.PositiveSpans[len(h.PositiveSpans)-1].Length++
		default:
			h.PositiveSpans = append(h.PositiveSpans, histogram.Span{Offset: i - idx[k-1] - 1, Length: 1})
		}
		c := int64(s.native[i])
		h.PositiveBuckets = append(h.PositiveBuckets, c-prev)
		prev = c
	}
	return h
}

// seriesKey identifies a metric and tag set in the aggregate map.
func seriesKey(m *ext.Metric, tags ext.TagSet) string {
	var b strings.Builder
	b.WriteString(m.Name)
	for k, v := range tags.All() { // in key order
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(v)
	}
	return b.String()
}

// labelsFor turns tags into sorted labels: names sanitized, empty values
// dropped (Prometheus treats them as absent), and testid added when the
// tags do not carry one.
func labelsFor(tags ext.TagSet, testID string) []prompb.Label {
	m := make(map[string]string, tags.Len()+1)
	for k, v := range tags.All() {
		if v == "" {
			continue
		}
		name := SanitizeName(k)
		if strings.HasPrefix(name, "__") {
			// Reserved for Prometheus' own labels.
			name = "tag" + name
		}
		m[name] = v
	}
	if _, ok := m["testid"]; !ok && testID != "" {
		m["testid"] = testID
	}
	out := make([]prompb.Label, 0, len(m))
	for k, v := range m {
		out = append(out, prompb.Label{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// withName returns labels plus __name__, sorted by name as the remote
// write specification asks.
func withName(name string, labels []prompb.Label) []prompb.Label {
	out := make([]prompb.Label, 0, len(labels)+1)
	out = append(out, labels...)
	out = append(out, prompb.Label{Name: "__name__", Value: name})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
