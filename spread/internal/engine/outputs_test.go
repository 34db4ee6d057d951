package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// recorder is an output with every optional capability; it records the
// calls the run's output manager makes, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	info   output.MetricInfoSource
	status output.RunStatus
	start  time.Time
	end    time.Time
	iters  int // iterations samples seen between TestStarted and TestEnded
}

func (r *recorder) add(e string) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) Description() string { return "recorder" }
func (r *recorder) Start() error        { r.add("start"); return nil }
func (r *recorder) Stop() error         { r.add("stop"); return nil }
func (r *recorder) SetMetricInfo(src output.MetricInfoSource) {
	r.add("info")
	r.info = src
}
func (r *recorder) TestStarted(at time.Time) { r.add("test-started"); r.start = at }
func (r *recorder) TestEnded(at time.Time)   { r.add("test-ended"); r.end = at }
func (r *recorder) SetRunStatus(st output.RunStatus) {
	r.add("status")
	r.status = st
}
func (r *recorder) AddSamples(s []ext.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range s {
		if x.Metric.Name == ext.MetricIterations && !r.start.IsZero() && r.end.IsZero() {
			r.iters++
		}
	}
}

var (
	_ output.WithMetricInfo = (*recorder)(nil)
	_ output.WithTestTimes  = (*recorder)(nil)
	_ output.WithRunStatus  = (*recorder)(nil)
)

func TestOutputManagerCapabilities(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	src := `export const options = { iterations: 3, thresholds: { iterations: ['count>1000'] } };
export function setup() { const t = Date.now(); while (Date.now() - t < 100) {} }
export default function () {}
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	before := time.Now()
	err := Run(context.Background(), &Config{Script: script, Quiet: true, NoSummary: true, Env: map[string]string{},
		Extra: []ExtraOutput{{Arg: "rec", New: func(output.Params) (output.Output, error) { return rec, nil }}}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitThresholds {
		t.Fatalf("run: %v, want exit 99 (threshold)", err)
	}
	if got := strings.Join(rec.events, ","); got != "info,start,test-started,test-ended,status,stop" {
		t.Fatalf("calls %s", got)
	}
	if th := rec.info.MetricInfo(ext.MetricIterations).Thresholds; len(th) != 1 || th[0] != "count>1000" {
		t.Errorf("metric info thresholds %v", th)
	}
	// The test starts after setup() (which busy-waits 100 ms).
	if rec.start.Sub(before) < 100*time.Millisecond || rec.end.Before(rec.start) {
		t.Errorf("test started %v after the run, ended %v later", rec.start.Sub(before), rec.end.Sub(rec.start))
	}
	if rec.status.ExitCode != ExitThresholds || rec.status.Err == nil {
		t.Errorf("run status %+v", rec.status)
	}
}

func TestVerdict(t *testing.T) {
	teardown := exitErr(ExitTeardownTimeout, errors.New("teardown"))
	end := exitErr(ExitGenericEngineErr, errors.New("summary"))
	for _, tc := range []struct {
		name     string
		o        outcome
		teardown error
		end      error
		want     int // 0: nil
	}{
		{"pass", outcome{}, nil, nil, 0},
		{"end of test only", outcome{}, nil, end, ExitGenericEngineErr},
		{"teardown first", outcome{abortReason: "x", thresholdsFailed: true}, teardown, end, ExitTeardownTimeout},
		{"scheduler error", outcome{schedErr: errors.New("boom"), thresholdsFailed: true}, nil, nil, ExitGenericEngineErr},
		{"abort over thresholds", outcome{abortReason: "x", thresholdsFailed: true}, nil, nil, ExitScriptAborted},
		{"abortOnFail", outcome{thresholdAbort: true, interrupted: true}, nil, nil, ExitThresholds},
		{"thresholds over interrupt", outcome{thresholdsFailed: true, interrupted: true}, nil, nil, ExitThresholds},
		{"interrupt over fail", outcome{interrupted: true, failReason: "f"}, nil, nil, ExitInterrupted},
		{"fail over summary", outcome{failReason: "f"}, nil, end, ExitMarkedAsFailed},
	} {
		err := verdict(tc.o, tc.teardown, tc.end)
		got := 0
		var ee *ExitError
		if errors.As(err, &ee) {
			got = ee.Code
		} else if err != nil {
			got = -1
		}
		if got != tc.want {
			t.Errorf("%s: exit %d (%v), want %d", tc.name, got, err, tc.want)
		}
	}
}
