package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/options"
)

// memProfileOnSignal writes a heap profile and MemStats on each SIGUSR1
// until the returned function is called.
func memProfileOnSignal(path string) func() {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-usr1:
				runtime.GC()
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				_ = os.WriteFile(path+".txt", fmt.Appendf(nil,
					"HeapAlloc %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nStackInuse %d\nStackSys %d\nSys %d\nNumGoroutine %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\n",
					m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased, m.StackInuse, m.StackSys, m.Sys,
					runtime.NumGoroutine(), m.MSpanInuse, m.GCSys, m.OtherSys), 0o644)
			}
		}
	}()
	return func() { signal.Stop(usr1); close(done) }
}

// runFlags are `spread run`'s flags; other files may add to them through
// runFlagHooks (e.g. --k8s-scale) without touching this one.
type runFlags struct {
	vus, iterations   int64
	duration          string
	stages, envs      []string
	tags, outs        []string
	summaryExport     string
	quiet, noColor    bool
	noSummary         bool
	logFormat         string
	progress          string
	segment, sequence string
}

// RunFlagHook lets another file add flags to `spread run` and adjust the
// engine config from them before the run starts.
type RunFlagHook struct {
	Add   func(fs *pflag.FlagSet)
	Apply func(fs *pflag.FlagSet, cfg *engine.Config) error
}

// runFlagHooks are every file's additions to `spread run`, in one list
// (explicit wiring: no init() registration inside the command).
var runFlagHooks = []RunFlagHook{k6Flags(), httpFlagHook(), k8sFlags(), htmlFlags(), secretFlags()}

func addOptionFlags(fs *pflag.FlagSet, f *runFlags) {
	fs.Int64VarP(&f.vus, "vus", "u", 1, "number of VUs to run at the same time")
	fs.StringVarP(&f.duration, "duration", "d", "", "test duration, e.g. 30s, 1m30s")
	fs.Int64VarP(&f.iterations, "iterations", "i", 0, "total iterations, shared among the VUs")
	fs.StringArrayVarP(&f.stages, "stage", "s", nil, "ramping stage DURATION:TARGET (repeatable)")
	fs.StringArrayVarP(&f.envs, "env", "e", nil, "add K=V to __ENV (repeatable)")
	fs.StringArrayVar(&f.tags, "tag", nil, "add tag K=V to every sample (repeatable)")
	fs.StringVar(&f.segment, "execution-segment", "", "run only this segment of the test, e.g. 0:1/2")
	fs.StringVar(&f.sequence, "execution-segment-sequence", "", "the segments all instances use, e.g. 0,1/2,1")
}

func newRunCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] SCRIPT.js|SCRIPT.ts|-",
		Long:  "Run a k6-style load test script (\"-\" reads it from stdin; its relative imports and open() resolve from the working directory).",
		Short: "Run a k6-style load test script",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkDisplayFlags(f); err != nil {
				return &engine.ExitError{Code: engine.ExitInvalidConfig, Err: err}
			}
			script := args[0]
			if script == "-" {
				path, cleanup, err := stdinScript(cmd.InOrStdin())
				if err != nil {
					return &engine.ExitError{Code: engine.ExitInvalidConfig, Err: err}
				}
				defer cleanup()
				script = path
			}
			cfg, err := engineConfig(cmd, f, script)
			if err != nil {
				return err
			}
			cfg.Outs = f.outs
			cfg.SummaryExport = f.summaryExport
			cfg.NoSummary = f.noSummary
			cfg.Quiet = f.quiet
			cfg.NoColor = f.noColor
			cfg.LogFormat = f.logFormat
			cfg.Progress = f.progress
			for _, h := range runFlagHooks {
				if h.Apply != nil {
					if err := h.Apply(cmd.Flags(), cfg); err != nil {
						return &engine.ExitError{Code: engine.ExitInvalidConfig, Err: err}
					}
				}
			}
			if path := os.Getenv("SPREAD_CPUPROFILE"); path != "" {
				// For engine profiling (see docs/bench/engine.md).
				if f, err := os.Create(path); err == nil {
					defer f.Close()
					if pprof.StartCPUProfile(f) == nil {
						defer pprof.StopCPUProfile()
					}
				}
			}
			if path := os.Getenv("SPREAD_MEMPROFILE"); path != "" {
				// For memory profiling of a running test (docs/bench/engine.md):
				// each SIGUSR1 writes the heap profile to path and the
				// runtime's memory statistics to path.txt.
				stop := memProfileOnSignal(path)
				defer stop()
			}
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			cfg.Signals = sigs
			err = engine.Run(cmd.Context(), cfg)
			var ee *engine.ExitError
			if lingerRequested && !(errors.As(err, &ee) && ee.Code == engine.ExitInterrupted) {
				// --linger (k6): keep the process, e.g. the web dashboard's
				// server, until a signal; an interrupted test does not linger.
				fmt.Fprintln(cmd.ErrOrStderr(), "Linger set; waiting for Ctrl+C to exit ...")
				<-sigs
			}
			return err
		},
	}
	fs := cmd.Flags()
	addOptionFlags(fs, f)
	fs.StringArrayVarP(&f.outs, "out", "o", nil, "send samples to an output (repeatable; also K6_OUT=a,b): json=FILE, csv=FILE, html=FILE, web-dashboard[=port=N&export=FILE], prometheus-rw[=URL] (alias experimental-prometheus-rw), influxdb[=URL], opentelemetry (alias experimental-opentelemetry; K6_OTEL_*), or an extension's output")
	fs.StringVar(&f.summaryExport, "summary-export", "", "write the end-of-test summary as JSON to this file")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	fs.BoolVar(&f.noColor, "no-color", false, "no colors in the output")
	fs.BoolVar(&f.noSummary, "no-summary", false, "do not print the end-of-test summary")
	fs.StringVar(&f.logFormat, "log-format", "", "log format for console and errors: logfmt (default) or json")
	fs.StringVar(&f.progress, "progress", "auto", "progress display: auto (bars on a terminal, lines otherwise), lines, none")
	for _, h := range runFlagHooks {
		if h.Add != nil {
			h.Add(fs)
		}
	}
	return cmd
}

// checkDisplayFlags rejects --log-format and --progress values the
// engine would otherwise quietly treat as the default.
func checkDisplayFlags(f *runFlags) error {
	switch f.logFormat {
	case "", "logfmt", "json":
	default:
		return fmt.Errorf("--log-format %q: want logfmt or json", f.logFormat)
	}
	switch f.progress {
	case "", "auto", "lines", "none":
	default:
		return fmt.Errorf("--progress %q: want auto, lines or none", f.progress)
	}
	return nil
}

// engineConfig builds the engine config shared by run and inspect: the
// command line tier holds only the flags the user set, so script options
// are not overridden by flag defaults.
func engineConfig(cmd *cobra.Command, f *runFlags, script string) (*engine.Config, error) {
	fs := cmd.Flags()
	invalid := func(err error) error { return &engine.ExitError{Code: engine.ExitInvalidConfig, Err: err} }
	cli := options.Layer{}
	if fs.Changed("vus") {
		_ = cli.Set("vus", f.vus)
	}
	if fs.Changed("duration") {
		_ = cli.Set("duration", f.duration)
	}
	if fs.Changed("iterations") {
		_ = cli.Set("iterations", f.iterations)
	}
	if len(f.stages) > 0 {
		var stages []any
		for _, s := range f.stages {
			for _, part := range strings.Split(s, ",") {
				st, err := options.ParseStage(part)
				if err != nil {
					return nil, invalid(err)
				}
				stages = append(stages, st)
			}
		}
		_ = cli.Set("stages", stages)
	}
	if len(f.tags) > 0 {
		tags := map[string]string{}
		for _, t := range f.tags {
			k, v, err := options.ParseTag(t)
			if err != nil {
				return nil, invalid(err)
			}
			tags[k] = v
		}
		_ = cli.Set("tags", tags)
	}
	if f.segment != "" {
		_ = cli.Set("executionSegment", f.segment)
	}
	if f.sequence != "" {
		_ = cli.Set("executionSegmentSequence", f.sequence)
	}
	scriptEnv := map[string]string{}
	for _, e := range f.envs {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, invalid(fmt.Errorf("--env %q: want KEY=VALUE", e))
		}
		scriptEnv[k] = v
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return &engine.Config{
		Script:    script,
		CLI:       cli,
		Env:       env,
		ScriptEnv: scriptEnv,
		Stdout:    cmd.OutOrStdout(),
		Stderr:    cmd.ErrOrStderr(),
		StdoutTTY: isTerminal(cmd.OutOrStdout()),
		StderrTTY: sizedTerminal(cmd.ErrOrStderr()),
	}, nil
}

// sizedTerminal says whether f is a terminal with a known width; bars on
// a terminal of width 0 (some pseudo-terminals) would not show at all.
func sizedTerminal(w io.Writer) bool {
	if !isTerminal(w) {
		return false
	}
	fd := int(w.(*os.File).Fd())
	width, _, err := term.GetSize(fd)
	return err == nil && width > 0
}

// isTerminal says whether w is a terminal (a captured writer is not).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
