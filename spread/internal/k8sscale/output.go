package k8sscale

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// Output runs a Scaler for one test: `--k8s-scale` is an output the run
// adds itself (not one --out can name), because an output is what the run
// tells when the test starts and ends (output.WithTestTimes): the steps are
// timed from TestStarted (after setup(), when the executors start) and
// the steps not due by TestEnded are cancelled.
type Output struct {
	scaler *Scaler
	steps  []Step
	ns     string

	mu      sync.Mutex
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ output.WithTestTimes = (*Output)(nil)

// NewOutput builds the output from the --k8s-scale specs in p.Arg (comma
// separated) with in-cluster or kubeconfig credentials.
func NewOutput(p output.Params) (output.Output, error) {
	steps, err := ParseSteps([]string{p.Arg})
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("want steps: --k8s-scale deployment/NAME=REPLICAS@TIME")
	}
	cs, ns, err := Client()
	if err != nil {
		return nil, err
	}
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return newOutput(New(cs, ns, steps, stderr), steps, ns), nil
}

func newOutput(s *Scaler, steps []Step, ns string) *Output {
	ctx, cancel := context.WithCancel(context.Background())
	return &Output{scaler: s, steps: steps, ns: ns, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Description lists the planned steps.
func (o *Output) Description() string {
	var parts []string
	for _, s := range o.steps {
		parts = append(parts, fmt.Sprintf("%s=%d at %s", s.Target(), s.Replicas, s.At))
	}
	return fmt.Sprintf("k8s-scale (namespace %s: %s)", o.ns, strings.Join(parts, ", "))
}

// Start checks access to every target before the test begins.
func (o *Output) Start() error {
	ctx, cancel := context.WithTimeout(o.ctx, 15*time.Second)
	defer cancel()
	return o.scaler.Check(ctx)
}

// AddSamples ignores the samples: the scaler needs only the test times.
func (o *Output) AddSamples([]ext.Sample) {}

// TestStarted starts the timeline of the steps at the test start.
func (o *Output) TestStarted(at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started {
		return
	}
	o.started = true
	go func() {
		defer close(o.done)
		_ = o.scaler.Run(o.ctx, at) // Run logs each step's outcome
	}()
}

// TestEnded cancels the steps whose time has not come.
func (o *Output) TestEnded(time.Time) { o.cancel() }

// Stop waits for a step in flight and reports the failed ones.
func (o *Output) Stop() error {
	o.cancel()
	o.mu.Lock()
	started := o.started
	o.mu.Unlock()
	if started {
		<-o.done
	}
	var failed []string
	for _, r := range o.scaler.Results() {
		if r.Err != nil {
			failed = append(failed, r.Step.Spec)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d scale step(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
