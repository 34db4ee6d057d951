// Package engine runs a test: it compiles the script, consolidates the
// options, initialises VUs as the executors ask, runs setup(), the
// scenarios and teardown(), pumps every sample to the metrics engine and
// the outputs, evaluates thresholds while running, and ends with the
// summary (or the script's handleSummary) and k6's exit codes.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/archive"
	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/js/builtin"
	"spread.dev/spread/internal/metrics"
	"spread.dev/spread/internal/options"
	"spread.dev/spread/internal/vu"
	"spread.dev/spread/output"
)

// Exit codes, as k6's.
const (
	ExitOK               = 0
	ExitThresholds       = 99
	ExitSetupTimeout     = 100
	ExitTeardownTimeout  = 101
	ExitInvalidConfig    = 104
	ExitInterrupted      = 105
	ExitScriptException  = 107
	ExitScriptAborted    = 108
	ExitMarkedAsFailed   = 110 // test.fail()
	ExitGenericEngineErr = 103
)

// ExitError is an error with the process exit code it should cause.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process exit code.
func (e *ExitError) ExitCode() int { return e.Code }

func exitErr(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Config is one `spread run`.
type Config struct {
	Script string
	// CLI is the command line tier of options (flags the user set).
	CLI options.Layer
	// Env is the process environment (K6_* settings and __ENV).
	Env map[string]string
	// ScriptEnv are -e K=V values, added to __ENV.
	ScriptEnv map[string]string
	// Outs are --out values "name[=arg]".
	Outs []string
	// Extra are outputs a CLI flag adds itself, not named with --out (e.g.
	// --k8s-scale, which needs to see the test start and end).
	Extra         []ExtraOutput
	SummaryExport string
	NoSummary     bool
	// FileOptions are the options of k6's JSON config file (--config), the
	// lowest tier: the script, K6_* and flags override them.
	FileOptions options.Layer
	// NoThresholds, NoSetup, NoTeardown are k6's --no-thresholds,
	// --no-setup, --no-teardown.
	NoThresholds, NoSetup, NoTeardown bool
	Quiet                             bool
	NoColor                           bool
	LogFormat                         string
	// Progress: "auto" (bars on a terminal, lines otherwise), "lines", "none".
	Progress string
	Stdout   io.Writer
	Stderr   io.Writer
	// Signals delivers interrupts: the first stops gracefully, the second at once.
	Signals <-chan os.Signal
	// StdoutTTY / StderrTTY say whether the streams are terminals.
	StdoutTTY, StderrTTY bool
}

// ExtraOutput is an output built by its own factory, with Arg as its argument.
type ExtraOutput struct {
	Arg string
	New output.Factory
}

// Prepared is a compiled script with its consolidated options.
type Prepared struct {
	Program   *js.Program
	Layer     options.Layer
	Options   *options.Options
	Scenarios []executor.Config
	Segment   executor.Segment
	Registry  *ext.Registry
	Shared    *vu.Shared
	// Remote holds the remote modules the script imports (for archives).
	Remote *js.RemoteLoader
	// ScriptEnv are the -e values (for archives).
	ScriptEnv map[string]string

	cleanup func() // removes an extracted archive
}

// Close removes what Prepare made on disk (an extracted archive).
func (p *Prepared) Close() {
	if p.cleanup != nil {
		p.cleanup()
	}
}

// Prepare compiles the script, runs its init code once to read `options`
// and consolidates them with the environment and the command line.
func Prepare(ctx context.Context, cfg *Config) (*Prepared, error) {
	remote, err := js.NewRemoteLoader()
	if err != nil {
		return nil, exitErr(ExitInvalidConfig, err)
	}
	remote.Warn = func(msg string) { js.NewLogger(cfg.Stderr, cfg.LogFormat).Log("warn", msg) }
	script, arch, cleanup, err := openArchive(cfg.Script)
	if err != nil {
		return nil, exitErr(ExitInvalidConfig, err)
	}
	prepared := false
	defer func() {
		if !prepared {
			cleanup()
		}
	}()
	if arch != nil {
		remote.Archive = arch.Remote // no network: every module is in the archive
	}
	prog, err := js.CompileWith(script, js.CompileOptions{Remote: remote, KeepRemote: builtin.IsJSLibSummary})
	if err != nil {
		var ce *js.CompileError
		if errors.As(err, &ce) {
			return nil, exitErr(ExitScriptException, err)
		}
		// The script cannot be read: a usage problem, as an invalid config.
		return nil, exitErr(ExitInvalidConfig, err)
	}
	env := map[string]string{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	if arch != nil {
		for k, v := range arch.Env {
			env[k] = v
		}
	}
	for k, v := range cfg.ScriptEnv {
		env[k] = v
	}
	reg := ext.NewRegistry()
	logger := js.NewLogger(cfg.Stderr, cfg.LogFormat)
	sh := &vu.Shared{
		Program: prog,
		Resolver: &js.Resolver{Builtins: builtin.Modules(), Remote: func(url string) (ext.Module, bool) {
			if builtin.IsJSLibSummary(url) {
				return builtin.SummaryModule{}, true
			}
			return nil, false
		}},
		Files:    newFiles(prog.Path, script, arch),
		Logger:   logger,
		Registry: reg,
		Options:  ext.Options{},
		Env:      env,
		Tags:     ext.TagSet{},
	}
	// k6 reads options from a first VU's init; modules created there see
	// no options yet, so this VU is only used for reading them.
	first, err := vu.New(ctx, sh, vu.NopHost{}, 0, 0)
	if err != nil {
		return nil, exitErr(ExitScriptException, err)
	}
	layer, opts, scens, seg, err := resolveOptions(cfg, first, arch)
	if err != nil {
		return nil, err
	}
	sh.Options = opts.Raw
	sh.OptionsJS = decodeAll(opts.Raw)
	sh.TestOptions = derivedOptions(opts, scens)
	sh.Tags = ext.NewTagSet(opts.Tags)
	prepared = true
	return &Prepared{Program: prog, Layer: layer, Options: opts, Scenarios: scens, Segment: seg, Registry: reg, Shared: sh,
		Remote: remote, ScriptEnv: cfg.ScriptEnv, cleanup: cleanup}, nil
}

// resolveOptions consolidates the script's options (read from its first
// VU, or the archive's) with the environment and the command line, and
// checks them: scenarios, execution segment, every module's own options.
func resolveOptions(cfg *Config, first *vu.VU, arch *archive.Archive) (options.Layer, *options.Options, []executor.Config, executor.Segment, error) {
	raw, err := first.OptionsJSON()
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitScriptException, err)
	}
	scriptLayer, err := options.ParseScript(raw)
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, err)
	}
	if arch != nil {
		// the options resolved when the archive was made stand for the
		// script's; this run's environment and flags still override them.
		scriptLayer = options.Layer(arch.Options)
	}
	envLayer, err := options.FromEnv(cfg.Env)
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, err)
	}
	layer := options.Consolidate(cfg.FileOptions, scriptLayer, envLayer, cfg.CLI)
	opts, err := options.Decode(layer)
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, err)
	}
	scens, err := opts.ScenarioConfigs()
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, err)
	}
	seg, err := executor.NewSegment(opts.ExecutionSegment, opts.ExecutionSegmentSequence)
	if err != nil {
		return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, fmt.Errorf("execution segment: %w", err))
	}
	for _, sc := range scens {
		if sc.Exec != "" && !first.HasFunction(sc.Exec) {
			return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, fmt.Errorf("scenario %s: the script exports no function %q", sc.Name, sc.Exec))
		}
	}
	for _, path := range ext.Registered() {
		m, _ := ext.Lookup(path)
		if c, ok := m.(ext.OptionsChecker); ok {
			if err := c.CheckOptions(opts.Raw); err != nil {
				return nil, nil, nil, executor.Segment{}, exitErr(ExitInvalidConfig, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	return layer, opts, scens, seg, nil
}

func decodeAll(o ext.Options) map[string]any {
	out := make(map[string]any, len(o))
	for k, v := range o {
		var x any
		if json.Unmarshal(v, &x) == nil {
			out[k] = x
		}
	}
	return out
}

// Inspect returns the resolved options as k6's `inspect` shows them: the
// consolidated options with the scenarios the shortcuts turn into.
func Inspect(ctx context.Context, cfg *Config) (map[string]any, error) {
	p, err := Prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	out := derivedOptions(p.Options, p.Scenarios)
	delete(out, "duration")
	delete(out, "iterations")
	delete(out, "stages")
	return out, nil
}

// derivedOptions are the consolidated options with the scenarios the
// shortcuts turn into and the defaults made explicit: what `inspect`
// prints and exec.test.options reads (k6's "consolidated and derived").
func derivedOptions(o *options.Options, scens []executor.Config) map[string]any {
	out := decodeAll(o.Raw)
	scen := map[string]any{}
	for _, c := range scens {
		b, _ := json.Marshal(c)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		scen[c.Name] = pruneZero(m)
	}
	out["scenarios"] = scen
	if _, ok := out["setupTimeout"]; !ok {
		out["setupTimeout"] = o.SetupTimeout.String()
	}
	if _, ok := out["teardownTimeout"]; !ok {
		out["teardownTimeout"] = o.TeardownTimeout.String()
	}
	if _, ok := out["summaryTrendStats"]; !ok {
		out["summaryTrendStats"] = metrics.DefaultTrendStats
	}
	return out
}

// pruneZero drops zero values that do not apply to the executor, so the
// output reads like the scenario a user would write.
func pruneZero(m map[string]any) map[string]any {
	name, _ := m["executor"].(string)
	keep := executor.ShownZeros(name)
	for k, v := range m {
		zero := false
		switch x := v.(type) {
		case nil:
			zero = true
		case float64:
			zero = x == 0
		case string:
			zero = x == "" || x == "0s"
		case []any:
			zero = len(x) == 0
		case map[string]any:
			zero = len(x) == 0
		}
		if zero && !keep[k] {
			delete(m, k)
		}
	}
	return m
}

// Run runs the test and returns an *ExitError unless everything passed.
func Run(ctx context.Context, cfg *Config) error {
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	p, err := Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	r := &run{cfg: cfg, p: p, sh: p.Shared, log: p.Shared.Logger}
	return r.run(ctx)
}

// run holds one test run's moving parts.
type run struct {
	cfg *Config
	p   *Prepared
	sh  *vu.Shared
	log *js.Logger

	metrics *metrics.Engine
	outputs *outputs
	pump    *pump
	sched   *executor.Scheduler
	pool    *pool

	mu          sync.Mutex
	abortReason string             // test.abort()
	failReason  string             // test.fail()
	thresholdAb bool               // a threshold with abortOnFail failed
	interrupted bool               // a signal stopped the test
	hardStop    context.CancelFunc // second signal: cut everything, skip teardown
	cutIters    context.CancelFunc // test.abort(): cut iterations, teardown still runs

	setupJSON atomic.Pointer[string]    // setup()'s result, for the VUs (vu.Host)
	testStart atomic.Pointer[time.Time] // when the executors started
}

// run is the test, top-down: metrics and outputs, the scheduler, VUs,
// setup(), the scenarios, teardown(), the summary and the verdict. Each
// step is a method below; this function only orders them and carries
// their results.
func (r *run) run(parent context.Context) (retErr error) {
	start := time.Now()
	if err := r.startMetricsAndOutputs(start); err != nil {
		return err
	}
	defer func() { retErr = r.closeOutputs(retErr) }()
	if err := r.newScheduler(); err != nil {
		return err
	}

	// runCtx ends on a hard stop (second signal); VUs live in it.
	runCtx, hardStop := context.WithCancel(parent)
	defer hardStop()
	r.mu.Lock()
	r.hardStop = hardStop
	r.mu.Unlock()
	defer r.watchSignals(runCtx)()

	special, err := r.initVUs(runCtx)
	if err != nil {
		return err
	}
	setupJSON, err := r.setup(runCtx, special)
	if err != nil {
		return err
	}
	testDuration, schedErr := r.schedule(runCtx)
	teardownErr := r.teardown(runCtx, special, setupJSON)

	// Every sample in, then the final threshold verdict and the summary.
	r.pump.Close()
	r.metrics.EvaluateThresholds(testDuration)
	// A failing handleSummary or summary file is reported, but a threshold
	// verdict or an abort decides the exit code first.
	endErr := r.endOfTest(special, start, testDuration)
	return verdict(r.outcome(schedErr), teardownErr, endErr)
}

// startMetricsAndOutputs builds the metrics engine (thresholds) and the
// outputs, and the pump that feeds them.
func (r *run) startMetricsAndOutputs(start time.Time) error {
	cfg, p, opts := r.cfg, r.p, r.p.Options
	var err error
	thresholds := opts.Thresholds
	if cfg.NoThresholds {
		thresholds = nil // --no-thresholds: not evaluated, not in the summary
	}
	r.metrics, err = metrics.NewEngine(p.Registry, metrics.Config{
		Thresholds: thresholds, SummaryTrendStats: opts.SummaryTrendStats, SummaryTimeUnit: opts.SummaryTimeUnit,
	})
	if err != nil {
		return exitErr(ExitInvalidConfig, fmt.Errorf("thresholds: %w", err))
	}
	params := output.Params{Registry: p.Registry, Env: cfg.Env, Stdout: cfg.Stdout,
		Stderr: cfg.Stderr, TestID: fmt.Sprintf("spread-%d", start.Unix()), StartTime: start, ScriptPath: p.Program.Path}
	if r.outputs, err = startOutputs(cfg, params, r.metrics, r.log); err != nil {
		return err
	}
	outs := r.outputs.sinks()
	// The metrics engine keeps no batch; outputs may (they buffer).
	r.pump = newPump(len(outs) == 0, append([]func([]ext.Sample){r.metrics.AddSamples}, outs...)...)
	return nil
}

// closeOutputs runs last, after every sample went through the pump, on
// every path (including errors) so output files are complete. It returns
// the run's error: an output that failed to write its results (a full
// disk) makes the results incomplete, which outranks a threshold verdict.
func (r *run) closeOutputs(runErr error) error {
	r.pump.Close()
	r.outputs.runStatus(runErr)
	if err := r.outputs.stop(); err != nil {
		var ee *ExitError
		if runErr == nil || (errors.As(runErr, &ee) && ee.Code == ExitThresholds) {
			return exitErr(ExitGenericEngineErr, fmt.Errorf("results incomplete: %w", err))
		}
	}
	return runErr
}

// newScheduler builds the scenarios' scheduler; its hooks report dropped
// iterations, warnings and VU errors.
func (r *run) newScheduler() error {
	p := r.p
	hooks := executor.Hooks{
		Dropped: func(scenario string, tags map[string]string, n int64) {
			t := r.sh.Tags.Merge(tags).With("scenario", scenario)
			r.pump.Push(ext.Sample{Metric: p.Registry.Get(ext.MetricDroppedIterations), Time: time.Now(), Tags: t, Value: float64(n)})
		},
		Warn: func(scenario, msg string) { r.log.Log("warn", msg, js.Field{Key: "scenario", Value: scenario}) },
		VUError: func(scenario string, err error) {
			r.log.Log("error", err.Error(), js.Field{Key: "scenario", Value: scenario})
		},
	}
	var err error
	if r.sched, err = executor.New(p.Scenarios, p.Segment, hooks); err != nil {
		return exitErr(ExitInvalidConfig, err)
	}
	return nil
}

// initVUs initialises the VUs the scenarios need before they start, and
// the VU of setup() and teardown() (its own, as in k6).
func (r *run) initVUs(runCtx context.Context) (*vu.VU, error) {
	r.pool = newPool(runCtx, r.sh, r, r.p.Segment)
	if !r.cfg.Quiet {
		r.printHeader()
	}
	if err := r.pool.Preinit(runCtx, r.sched.PreInitVUs(), runtime.GOMAXPROCS(0)); err != nil {
		if runCtx.Err() != nil {
			return nil, exitErr(ExitInterrupted, errors.New("interrupted while initialising VUs"))
		}
		return nil, exitErr(ExitScriptException, err)
	}
	r.pump.Push(ext.Sample{Metric: r.p.Registry.Get(ext.MetricVUsMax), Time: time.Now(), Tags: r.sh.Tags, Value: float64(r.pool.Total())})
	special, err := vu.New(runCtx, r.sh, r, 0, 0)
	if err != nil {
		return nil, exitErr(ExitScriptException, err)
	}
	return special, nil
}

// setup runs setup() (when exported) and keeps its JSON result for the VUs.
func (r *run) setup(runCtx context.Context, special *vu.VU) (string, error) {
	var setupJSON string
	if special.HasFunction("setup") && !r.cfg.NoSetup {
		res, err := r.callTimed(runCtx, special, "setup", "::setup", r.p.Options.SetupTimeout, ExitSetupTimeout)
		if err != nil {
			return "", r.finishEarly(err)
		}
		if setupJSON, err = special.JSON(res); err != nil {
			return "", exitErr(ExitScriptException, fmt.Errorf("setup() result is not JSON-serialisable: %w", err))
		}
	}
	r.setupJSON.Store(&setupJSON)
	return setupJSON, nil
}

// schedule runs the scenarios with the threshold, vus and progress loops
// beside them, and tells the outputs when the test starts and ends. It
// returns the test's duration and the scheduler's error.
func (r *run) schedule(runCtx context.Context) (time.Duration, error) {
	testStart := time.Now()
	r.testStart.Store(&testStart)
	r.outputs.testStarted(testStart)
	bgCtx, bgStop := context.WithCancel(runCtx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); r.thresholdLoop(bgCtx, testStart) }()
	go func() { defer bg.Done(); r.vusLoop(bgCtx) }()
	prog := r.startProgress(bgCtx, testStart)

	// iterCtx ends iterations at once on test.abort(), which (as in k6)
	// still lets teardown run.
	iterCtx, cutIters := context.WithCancel(runCtx)
	defer cutIters()
	r.mu.Lock()
	r.cutIters = cutIters
	aborted := r.abortReason != "" || r.interrupted // a signal during setup()
	r.mu.Unlock()
	if aborted {
		cutIters()
	}
	err := r.sched.Run(iterCtx, r.pool)
	bgStop()
	bg.Wait()
	prog.Stop()
	r.emitVUs()
	end := time.Now()
	r.outputs.testEnded(end)
	return end.Sub(testStart), err
}

// teardown runs teardown(data) unless the run was hard-stopped. Its error
// is the run's exit error (a timeout, an exception), nil otherwise; an
// exception is logged.
func (r *run) teardown(runCtx context.Context, special *vu.VU, setupJSON string) error {
	if !special.HasFunction("teardown") || r.cfg.NoTeardown || runCtx.Err() != nil {
		return nil
	}
	var args []any
	if setupJSON != "" {
		args = append(args, json.RawMessage(setupJSON))
	}
	_, err := r.callTimed(runCtx, special, "teardown", "::teardown", r.p.Options.TeardownTimeout, ExitTeardownTimeout, args...)
	if err == nil {
		return nil
	}
	if runCtx.Err() != nil {
		// A second signal cut teardown: the interruption (105) is the verdict.
		r.log.Log("warn", "teardown() interrupted", js.Field{Key: "source", Value: "teardown"})
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Code == ExitTeardownTimeout {
		return err
	}
	r.log.Log("error", js.ErrorText(err), js.Field{Key: "source", Value: "teardown"})
	if abortOf(err) != nil {
		return nil // test.abort() in teardown: the abort decides the exit code
	}
	return exitErr(ExitScriptException, err)
}

// outcome is what decided the run besides the errors of its steps.
type outcome struct {
	abortReason      string // test.abort()
	thresholdAbort   bool   // a threshold with abortOnFail failed
	thresholdsFailed bool
	interrupted      bool   // a signal stopped the test
	failReason       string // test.fail()
	schedErr         error  // the scheduler's error, other than being cut short
}

// outcome reads the run's state once every step is over.
func (r *run) outcome(schedErr error) outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := outcome{abortReason: r.abortReason, thresholdAbort: r.thresholdAb, interrupted: r.interrupted,
		failReason: r.failReason, thresholdsFailed: r.metrics.ThresholdsFailed()}
	if schedErr != nil {
		switch {
		case errors.Is(schedErr, context.Canceled) && (o.abortReason != "" || o.interrupted):
			// cut short by test.abort() or a signal: reported as such
		case errors.Is(schedErr, context.Canceled):
			o.interrupted = true // the caller's context ended
		default:
			o.schedErr = schedErr
		}
	}
	return o
}

// verdict is the run's exit error, k6's order of precedence: a step's own
// exit error (teardown timeout or exception), an engine error, abort,
// thresholds, interrupt, test.fail(), then the end of test (summary).
func verdict(o outcome, teardownErr, endErr error) error {
	switch {
	case teardownErr != nil:
		return teardownErr
	case o.schedErr != nil:
		return exitErr(ExitGenericEngineErr, fmt.Errorf("scheduler: %w", o.schedErr))
	case o.abortReason != "":
		return exitErr(ExitScriptAborted, fmt.Errorf("test aborted: %s", o.abortReason))
	case o.thresholdAbort:
		return exitErr(ExitThresholds, errors.New("thresholds on metrics have been crossed; the test was aborted (abortOnFail)"))
	case o.thresholdsFailed:
		return exitErr(ExitThresholds, errors.New("thresholds on metrics have been crossed"))
	case o.interrupted:
		return exitErr(ExitInterrupted, errors.New("test interrupted"))
	case o.failReason != "":
		return exitErr(ExitMarkedAsFailed, fmt.Errorf("test marked as failed: %s", o.failReason))
	}
	return endErr
}

// finishEarly ends a run that failed before the scenarios (setup error).
func (r *run) finishEarly(err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	if ab := abortOf(err); ab != nil {
		return exitErr(ExitScriptAborted, ab)
	}
	return exitErr(ExitScriptException, err)
}

func abortOf(err error) *vu.AbortError {
	var ab *vu.AbortError
	if errors.As(err, &ab) {
		return ab
	}
	return nil
}

// callTimed runs setup/teardown with its timeout; a timeout is exit code
// timeoutCode, an exception 107.
func (r *run) callTimed(ctx context.Context, v *vu.VU, name, group string, timeout time.Duration, timeoutCode int, args ...any) (res goja.Value, err error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err = v.Call(cctx, name, group, args...)
	if err == nil {
		return res, nil
	}
	if errors.Is(err, vu.ErrInterrupted) && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return nil, exitErr(timeoutCode, fmt.Errorf("%s() execution timed out after %s", name, timeout))
	}
	if ab := abortOf(err); ab != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, exitErr(ExitInterrupted, fmt.Errorf("%s() interrupted", name))
	}
	return nil, exitErr(ExitScriptException, err)
}

// abort is test.abort(): stop gracefully now, exit 108 at the end.
func (r *run) abort(reason string) {
	r.mu.Lock()
	if r.abortReason == "" {
		r.abortReason = reason
	}
	cut := r.cutIters
	r.mu.Unlock()
	// The exit error says "test aborted: reason" at the end; this line says
	// when it happened.
	r.log.Log("warn", "test.abort() called, stopping: "+reason, js.Field{Key: "source", Value: "abort"})
	if r.sched != nil {
		r.sched.Stop()
	}
	if cut != nil {
		cut()
	}
}

// thresholdLoop evaluates thresholds every 2 s and stops the test when one
// with abortOnFail failed.
func (r *run) thresholdLoop(ctx context.Context, start time.Time) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, abort := r.metrics.EvaluateThresholds(time.Since(start)); abort {
			r.mu.Lock()
			r.thresholdAb = true
			r.mu.Unlock()
			r.log.Log("error", "a threshold with abortOnFail has been crossed; stopping the test", js.Field{Key: "source", Value: "thresholds"})
			r.sched.Stop()
			return
		}
	}
}

// vusLoop samples the vus and vus_max gauges every second.
func (r *run) vusLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	r.emitVUs()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.emitVUs()
		}
	}
}

func (r *run) emitVUs() {
	now := time.Now()
	r.pump.Push(
		ext.Sample{Metric: r.p.Registry.Get(ext.MetricVUs), Time: now, Tags: r.sh.Tags, Value: float64(r.sched.ActiveVUs())},
		ext.Sample{Metric: r.p.Registry.Get(ext.MetricVUsMax), Time: now, Tags: r.sh.Tags, Value: float64(r.pool.Total())},
	)
}

// printHeader shows what is about to run, as k6's banner does.
func (r *run) printHeader() {
	w := r.cfg.Stdout
	var b strings.Builder
	fmt.Fprintf(&b, "\n  execution: local\n     script: %s\n", r.cfg.Script)
	descs := r.outputs.descriptions()
	for _, d := range descs {
		fmt.Fprintf(&b, "     output: %s\n", d)
	}
	if len(descs) == 0 {
		fmt.Fprintf(&b, "     output: -\n")
	}
	if !r.p.Segment.IsFull() {
		fmt.Fprintf(&b, "    segment: %s\n", r.p.Segment.String())
	}
	fmt.Fprintf(&b, "\n  scenarios: (100.00%%) %d scenario(s), %d max VUs, %s max duration (incl. graceful stop):\n",
		len(r.p.Scenarios), r.sched.MaxVUs(), r.sched.TotalDuration().Round(time.Second))
	for _, c := range r.sched.Configs() {
		fmt.Fprintf(&b, "           * %s: %s\n", c.Name, c.Description())
	}
	fmt.Fprintln(&b)
	_, _ = io.WriteString(w, b.String())
}
