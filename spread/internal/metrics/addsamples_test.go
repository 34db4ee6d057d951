package metrics

import (
	"math"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/summary"
)

// TestAddSamplesInterleaved: one batch interleaving more metrics than
// AddSamples remembers between samples (two) lands each value on its own
// metric, and NaN or infinite values are skipped.
func TestAddSamplesInterleaved(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.NewMetric("a_count", ext.Counter)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := reg.NewMetric("b_count", ext.Counter)
	c, _ := reg.NewMetric("c_count", ext.Counter)
	var batch []ext.Sample
	for i := 0; i < 10; i++ {
		for j, m := range []*ext.Metric{a, b, a, c, b, c, c} {
			batch = append(batch, ext.Sample{Metric: m, Time: t0, Value: float64(j + 1)})
		}
	}
	batch = append(batch, ext.Sample{Metric: a, Time: t0, Value: math.NaN()},
		ext.Sample{Metric: b, Time: t0, Value: math.Inf(1)}, ext.Sample{Metric: c, Time: t0, Value: math.Inf(-1)})
	e.AddSamples(batch)
	d := e.Summary(summary.RunInfo{Duration: time.Second})
	for name, want := range map[string]float64{"a_count": 10 * (1 + 3), "b_count": 10 * (2 + 5), "c_count": 10 * (4 + 6 + 7)} {
		if got := d.Metrics[name].Values["count"]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
