package k8sscale

import (
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

// TestOutputTimesStepsFromTestStart: the output starts the timeline when
// the run says the test started (not at Start, not from a sample), and
// cancels the steps not due when the test ends.
func TestOutputTimesStepsFromTestStart(t *testing.T) {
	s, api, log := newScaler(t, "deployment/echo-server=2@100ms", "deployment/echo-server=3@1h")
	o := newOutput(s, s.steps, "spread")
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	// Samples (even `vus`) do not start anything.
	o.AddSamples([]ext.Sample{{Metric: &ext.Metric{Name: ext.MetricVUs}, Time: time.Now(), Value: 1}})
	time.Sleep(200 * time.Millisecond)
	if len(api.patches) != 0 {
		t.Fatalf("scaled before TestStarted: %v", api.patches)
	}
	start := time.Now()
	o.TestStarted(start)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Results()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	o.TestEnded(time.Now())
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	res := s.Results()
	if len(res) != 2 || res[0].Err != nil || res[0].From != 1 || !res[1].NotApplied {
		t.Fatalf("results %+v", res)
	}
	if el := res[0].Time.Sub(start); el < 100*time.Millisecond {
		t.Errorf("scaled %v after TestStarted, want >= 100ms", el)
	}
	if api.replicas["spread/echo-server"] != 2 || !strings.Contains(log.String(), "not applied") {
		t.Errorf("replicas %v log %s", api.replicas, log.String())
	}
	if !strings.Contains(o.Description(), "deployment/echo-server=2 at 100ms") {
		t.Errorf("description %q", o.Description())
	}
}

// TestOutputWithoutTestStart: a run that failed before the scenarios
// never calls TestStarted; Stop must not wait for a timeline.
func TestOutputWithoutTestStart(t *testing.T) {
	s, api, _ := newScaler(t, "deployment/echo-server=2@0s")
	o := newOutput(s, s.steps, "spread")
	done := make(chan error, 1)
	go func() { done <- o.Stop() }()
	select {
	case err := <-done:
		if err != nil || len(api.patches) != 0 {
			t.Fatalf("err %v patches %v", err, api.patches)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for a timeline that never started")
	}
}
