package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/ext"
	"spread.dev/spread/internal/k8sscale"
	"spread.dev/spread/output"
)

// Flags for runs on Kubernetes: --k8s-scale, and --execution-segment-count
// / --execution-segment-index for the pods of an Indexed Job.
func init() {
	addRunFlagHook(RunFlagHook{
		Add: func(fs *pflag.FlagSet) {
			fs.StringArray("k8s-scale", nil, "scale a Kubernetes workload during the test: [NAMESPACE/]deployment/NAME=REPLICAS@TIME, e.g. deployment/echo-server=2@2m (repeatable; in-cluster or kubeconfig credentials)")
			fs.Int("execution-segment-count", 0, "run one of N equal execution segments (with --execution-segment-index)")
			fs.Int("execution-segment-index", 0, "which of the --execution-segment-count segments to run (default $JOB_COMPLETION_INDEX)")
		},
		Apply: applyK8sFlags,
	})
}

// --k8s-scale runs as an extra output of the run (not one --out can name):
// an output sees the test start (the first `vus` sample) and the end
// (Stop), which is when the scale steps must be timed from and cut at.

func applyK8sFlags(fs *pflag.FlagSet, cfg *engine.Config) error {
	if fs.Changed("execution-segment-count") {
		if fs.Changed("execution-segment") {
			return fmt.Errorf("--execution-segment-count and --execution-segment cannot be used together")
		}
		n, _ := fs.GetInt("execution-segment-count")
		i, _ := fs.GetInt("execution-segment-index")
		if !fs.Changed("execution-segment-index") {
			v, ok := cfg.Env["JOB_COMPLETION_INDEX"]
			if !ok {
				return fmt.Errorf("--execution-segment-count %d: give --execution-segment-index or run in an Indexed Job ($JOB_COMPLETION_INDEX is unset)", n)
			}
			var err error
			if i, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("JOB_COMPLETION_INDEX=%q: not a number", v)
			}
		}
		seg, err := k8sscale.SegmentFor(i, n)
		if err != nil {
			return err
		}
		if err := cfg.CLI.Set("executionSegment", seg); err != nil {
			return fmt.Errorf("--execution-segment-count: %w", err)
		}
	} else if fs.Changed("execution-segment-index") {
		return fmt.Errorf("--execution-segment-index needs --execution-segment-count")
	}

	specs, _ := fs.GetStringArray("k8s-scale")
	if len(specs) == 0 {
		return nil
	}
	if _, err := k8sscale.ParseSteps(specs); err != nil {
		return err
	}
	if idx := strings.TrimSpace(cfg.Env["JOB_COMPLETION_INDEX"]); idx != "" && idx != "0" {
		// The pods of an Indexed Job run one test together: one scales.
		fmt.Fprintf(stderrOf(cfg), "k8s-scale: skipped on JOB_COMPLETION_INDEX=%s (only index 0 scales)\n", idx)
		return nil
	}
	cfg.Extra = append(cfg.Extra, engine.ExtraOutput{Arg: strings.Join(specs, ","), New: newK8sScaleOutput})
	return nil
}

func stderrOf(cfg *engine.Config) io.Writer {
	if cfg.Stderr != nil {
		return cfg.Stderr
	}
	return io.Discard
}

// scaleOutput runs a k8sscale.Scaler from the test start to the end.
type scaleOutput struct {
	scaler *k8sscale.Scaler
	steps  []k8sscale.Step
	ns     string

	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newK8sScaleOutput(p output.Params) (output.Output, error) {
	steps, err := k8sscale.ParseSteps([]string{p.Arg})
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("want steps: --k8s-scale deployment/NAME=REPLICAS@TIME")
	}
	cs, ns, err := k8sscale.Client()
	if err != nil {
		return nil, err
	}
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &scaleOutput{scaler: k8sscale.New(cs, ns, steps, stderr), steps: steps, ns: ns, ctx: ctx, cancel: cancel, done: make(chan struct{})}, nil
}

func (o *scaleOutput) Description() string {
	var parts []string
	for _, s := range o.steps {
		parts = append(parts, fmt.Sprintf("%s=%d at %s", s.Target(), s.Replicas, s.At))
	}
	return fmt.Sprintf("k8s-scale (namespace %s: %s)", o.ns, strings.Join(parts, ", "))
}

// Start checks access to every target before the test begins.
func (o *scaleOutput) Start() error {
	ctx, cancel := context.WithTimeout(o.ctx, 15*time.Second)
	defer cancel()
	return o.scaler.Check(ctx)
}

// AddSamples starts the timeline at the first `vus` sample, which the
// engine emits when the test (after setup) starts.
func (o *scaleOutput) AddSamples(samples []ext.Sample) {
	for _, s := range samples {
		if s.Metric != nil && s.Metric.Name == ext.MetricVUs {
			start := s.Time
			o.once.Do(func() {
				go func() {
					defer close(o.done)
					_ = o.scaler.Run(o.ctx, start) // Run logs each step's outcome
				}()
			})
			return
		}
	}
}

// Stop cancels the steps whose time has not come.
func (o *scaleOutput) Stop() error {
	o.cancel()
	started := true
	o.once.Do(func() { started = false })
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
