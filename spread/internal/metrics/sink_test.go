package metrics

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

// exactPercentile is k6's definition: linear interpolation between the
// closest ranks of the sorted values.
func exactPercentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := math.Floor(rank)
	hi := math.Ceil(rank)
	if lo == hi {
		return sorted[int(lo)]
	}
	return sorted[int(lo)] + (rank-lo)*(sorted[int(hi)]-sorted[int(lo)])
}

func TestTrendPercentilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	dists := map[string]func() float64{
		"uniform 0-1000ms": func() float64 { return rng.Float64() * 1000 },
		"exponential 50ms": func() float64 { return rng.ExpFloat64() * 50 },
		"lognormal":        func() float64 { return math.Exp(rng.NormFloat64()*1.5 + 3) },
		"bimodal 1s and 5ms": func() float64 {
			return map[bool]float64{true: 1000 + rng.Float64()*30, false: 5 + rng.Float64()}[rng.Intn(4) == 0]
		},
		"sub-ms":  func() float64 { return 0.05 + rng.Float64()*0.5 },
		"seconds": func() float64 { return 1000 + rng.Float64()*60000 },
	}
	pcts := []float64{1, 10, 50, 90, 95, 99, 99.9}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			s := newTrendSink(ext.Time)
			vals := make([]float64, 200_000)
			sum := 0.0
			for i := range vals {
				vals[i] = gen()
				sum += vals[i]
				s.add(vals[i])
			}
			sort.Float64s(vals)
			for _, p := range pcts {
				got := s.stat("p(x)", p, 0)
				want := exactPercentile(vals, p)
				if rel := math.Abs(got-want) / want; rel > 0.01 {
					t.Errorf("p(%v) = %v, exact %v: off by %.3f%%", p, got, want, rel*100)
				}
			}
			if got, want := s.stat("med", 0, 0), exactPercentile(vals, 50); math.Abs(got-want)/want > 0.01 {
				t.Errorf("med = %v, exact %v", got, want)
			}
			// min, max, avg and count are exact.
			if s.stat("min", 0, 0) != vals[0] || s.stat("max", 0, 0) != vals[len(vals)-1] {
				t.Errorf("min/max = %v/%v, want %v/%v", s.stat("min", 0, 0), s.stat("max", 0, 0), vals[0], vals[len(vals)-1])
			}
			if got := s.stat("avg", 0, 0); math.Abs(got-sum/float64(len(vals))) > 1e-9*got {
				t.Errorf("avg = %v, want %v", got, sum/float64(len(vals)))
			}
			if s.stat("count", 0, 0) != float64(len(vals)) {
				t.Errorf("count = %v", s.stat("count", 0, 0))
			}
		})
	}
}

func TestTrendOutOfRangeValues(t *testing.T) {
	s := newTrendSink(ext.Time)
	for _, v := range []float64{-5, 0, 2 * 3_600_000, math.NaN(), math.Inf(1)} {
		s.add(v)
	}
	if s.count() != 3 {
		t.Fatalf("count = %d, want 3 (NaN and Inf skipped)", s.count())
	}
	if s.clamped != 1 {
		t.Fatalf("clamped = %d, want 1 (2 hours > 1 hour)", s.clamped)
	}
	if s.stat("min", 0, 0) != -5 || s.stat("max", 0, 0) != 7_200_000 {
		t.Fatalf("exact min/max lost: %v %v", s.stat("min", 0, 0), s.stat("max", 0, 0))
	}
	// Percentiles stay inside [min, max] even for clamped values.
	for _, p := range []float64{0, 1, 50, 99, 100} {
		v := s.stat("p", p, 0)
		if v < -5 || v > 7_200_000 {
			t.Fatalf("p(%v) = %v outside [min, max]", p, v)
		}
	}
}

// Non-time trends (sizes, counts, offsets) get a wide range and may be
// negative; percentiles stay within 1% there too.
func TestNonTimeTrendPercentiles(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	dists := map[string]struct {
		gen  func() float64
		pcts []float64
	}{
		"body sizes up to 100 MB": {func() float64 { return math.Exp(rng.Float64() * math.Log(1e8)) }, []float64{1, 50, 90, 99, 99.9}},
		"small fractions":         {func() float64 { return 0.5 + rng.Float64() }, []float64{1, 50, 99}},
		"30% negative": {func() float64 {
			if rng.Intn(10) < 3 {
				return -10 - rng.Float64()*990
			}
			return 10 + rng.Float64()*990
		}, []float64{1, 10, 20, 40, 50, 90, 99}},
		"all negative": {func() float64 { return -1 - rng.ExpFloat64()*100 }, []float64{1, 10, 50, 90, 99}},
	}
	for name, d := range dists {
		t.Run(name, func(t *testing.T) {
			s := newTrendSink(ext.Default)
			vals := make([]float64, 100_000)
			for i := range vals {
				vals[i] = d.gen()
				s.add(vals[i])
			}
			sort.Float64s(vals)
			for _, p := range d.pcts {
				got, want := s.percentile(p), exactPercentile(vals, p)
				if math.Abs(got-want) > 0.01*math.Abs(want) {
					t.Errorf("p(%v) = %v, exact %v", p, got, want)
				}
			}
			if s.clamped != 0 {
				t.Errorf("%d values clamped", s.clamped)
			}
		})
	}
}

func TestSinks(t *testing.T) {
	c := newSink(0, 0).(*counterSink)
	c.add(2)
	c.add(3)
	if c.stat("count", 0, 0) != 5 || c.stat("rate", 0, 2*time.Second) != 2.5 || c.stat("rate", 0, 0) != 0 {
		t.Fatalf("counter: count %v rate %v", c.stat("count", 0, 0), c.stat("rate", 0, 2*time.Second))
	}
	g := &gaugeSink{}
	for _, v := range []float64{5, 1, 9, 4} {
		g.add(v)
	}
	if g.stat("value", 0, 0) != 4 || g.stat("min", 0, 0) != 1 || g.stat("max", 0, 0) != 9 {
		t.Fatalf("gauge: %+v", g)
	}
	r := &rateSink{}
	for _, v := range []float64{1, 0, 0, 1, 1} {
		r.add(v)
	}
	if r.stat("rate", 0, 0) != 0.6 || r.stat("passes", 0, 0) != 3 || r.stat("fails", 0, 0) != 2 {
		t.Fatalf("rate: %+v", r)
	}
	if (&rateSink{}).stat("rate", 0, 0) != 0 || newTrendSink(ext.Time).stat("p(95)", 95, 0) != 0 {
		t.Fatal("empty sinks must read 0")
	}
}

// Short runs keep every value, so percentiles are exactly k6's
// interpolated ones; past exactLimit the histogram answers within 1%.
func TestTrendExactForShortRuns(t *testing.T) {
	s := newTrendSink(ext.Time)
	for _, v := range []float64{5, 1, 4, 2, 3} {
		s.add(v)
	}
	for p, want := range map[float64]float64{50: 3, 90: 4.6, 95: 4.8, 25: 2, 99.9: 4.996} {
		if got := s.percentile(p); math.Abs(got-want) > 1e-9 {
			t.Errorf("p(%v) = %v, want %v", p, got, want)
		}
	}
	s.add(0.5) // adding after a read re-sorts
	if got := s.percentile(0.0001); math.Abs(got-0.5) > 1e-3 {
		t.Errorf("after add, low percentile = %v", got)
	}
	for i := 0; i < exactLimit; i++ {
		s.add(float64(i))
	}
	if s.exact != nil {
		t.Fatal("exact values kept beyond exactLimit")
	}
	if got := s.percentile(50); math.Abs(got-511) > 5.2 {
		t.Errorf("histogram p(50) = %v, want ~511", got)
	}
}
