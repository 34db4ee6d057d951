package engine

import (
	"errors"
	"fmt"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/output"
)

// outputs is the run's output manager: it builds the --out outputs and
// the ones flags add (Config.Extra), hands each what it asked for through
// the optional interfaces of package output, starts them, gives the pump
// their sinks, tells them the test times and the run status, and stops
// them. It is the only code that knows about those interfaces.
type outputs struct {
	list []output.Output
	log  *js.Logger
	// started/ended: TestStarted and TestEnded are sent at most once each,
	// and TestEnded only after TestStarted.
	started, ended bool
}

// pendingOutput is an output to build: its name (for errors) and factory.
type pendingOutput struct {
	name  string
	build func() (output.Output, error)
}

// startOutputs builds and starts every output of the run. On error the
// outputs already started are stopped and the error carries the exit code
// (104 for a bad --out, 103 for an output that cannot start).
func startOutputs(cfg *Config, params output.Params, info output.MetricInfoSource, log *js.Logger) (*outputs, error) {
	var todo []pendingOutput
	for _, spec := range cfg.Outs {
		todo = append(todo, pendingOutput{spec, func() (output.Output, error) { return output.New(spec, params) }})
	}
	for _, x := range cfg.Extra {
		todo = append(todo, pendingOutput{x.Arg, func() (output.Output, error) {
			xp := params
			xp.Arg = x.Arg
			return x.New(xp)
		}})
	}
	m := &outputs{log: log}
	for _, po := range todo {
		o, err := po.build()
		if err != nil {
			m.stop()
			return nil, exitErr(ExitInvalidConfig, err)
		}
		if wi, ok := o.(output.WithMetricInfo); ok {
			wi.SetMetricInfo(info)
		}
		if err := o.Start(); err != nil {
			m.stop()
			return nil, exitErr(ExitGenericEngineErr, fmt.Errorf("output %s: %w", po.name, err))
		}
		m.list = append(m.list, o)
	}
	return m, nil
}

// sinks are the outputs' AddSamples, for the pump to fan samples out to.
func (m *outputs) sinks() []func([]ext.Sample) {
	out := make([]func([]ext.Sample), 0, len(m.list))
	for _, o := range m.list {
		out = append(out, o.AddSamples)
	}
	return out
}

// descriptions are what the banner shows, one per output.
func (m *outputs) descriptions() []string {
	out := make([]string, 0, len(m.list))
	for _, o := range m.list {
		out = append(out, o.Description())
	}
	return out
}

// testStarted tells the outputs that want it that the scenarios start.
func (m *outputs) testStarted(at time.Time) {
	if m.started {
		return
	}
	m.started = true
	for _, o := range m.list {
		if wt, ok := o.(output.WithTestTimes); ok {
			wt.TestStarted(at)
		}
	}
}

// testEnded tells them the scenarios are over (only after testStarted).
func (m *outputs) testEnded(at time.Time) {
	if !m.started || m.ended {
		return
	}
	m.ended = true
	for _, o := range m.list {
		if wt, ok := o.(output.WithTestTimes); ok {
			wt.TestEnded(at)
		}
	}
}

// runStatus tells the outputs that want it how the run ended.
func (m *outputs) runStatus(err error) {
	st := output.RunStatus{Err: err}
	if err != nil {
		st.ExitCode = ExitGenericEngineErr
		if code, ok := err.(interface{ ExitCode() int }); ok {
			st.ExitCode = code.ExitCode()
		}
	}
	for _, o := range m.list {
		if ws, ok := o.(output.WithRunStatus); ok {
			ws.SetRunStatus(st)
		}
	}
}

// stop flushes and closes every output, logs each failure and returns
// them all; safe to call more than once.
func (m *outputs) stop() error {
	var errs []error
	for _, o := range m.list {
		if err := o.Stop(); err != nil {
			m.log.Log("error", fmt.Sprintf("output %s: %v", o.Description(), err))
			errs = append(errs, fmt.Errorf("output %s: %w", o.Description(), err))
		}
	}
	m.list = nil
	return errors.Join(errs...)
}
