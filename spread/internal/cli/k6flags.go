package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/options"
)

// k6RunFlags are k6's `run` flags and environment settings that only
// steer the run (not script options): --no-thresholds, --no-setup,
// --no-teardown, --summary-trend-stats, -c/--config, --linger, and the
// K6_OUT, K6_NO_SUMMARY, K6_NO_THRESHOLDS, K6_NO_SETUP, K6_NO_TEARDOWN,
// K6_LINGER, K6_CONFIG variables. As in k6, a flag outranks its variable,
// which outranks the config file.
type k6RunFlags struct {
	noThresholds, noSetup, noTeardown, linger bool
	trendStats, config                        string
}

// lingerRequested is set by Apply for run.go, which waits for a signal
// after the test when it is true.
var lingerRequested bool

func k6Flags() RunFlagHook {
	f := &k6RunFlags{}
	return RunFlagHook{
		Add: func(fs *pflag.FlagSet) {
			fs.BoolVar(&f.noThresholds, "no-thresholds", false, "do not evaluate thresholds (K6_NO_THRESHOLDS)")
			fs.BoolVar(&f.noSetup, "no-setup", false, "do not run setup() (K6_NO_SETUP)")
			fs.BoolVar(&f.noTeardown, "no-teardown", false, "do not run teardown() (K6_NO_TEARDOWN)")
			fs.StringVar(&f.trendStats, "summary-trend-stats", "", "trend statistics in the summary, e.g. avg,min,med,max,p(90),p(99.9),count (K6_SUMMARY_TREND_STATS)")
			fs.StringVarP(&f.config, "config", "c", "", "k6's JSON config file: its options are the lowest tier; \"out\" and \"linger\" keys are read too (K6_CONFIG)")
			fs.BoolVar(&f.linger, "linger", false, "after the test, keep the process (e.g. the web dashboard) until Ctrl-C (K6_LINGER)")
		},
		Apply: func(fs *pflag.FlagSet, cfg *engine.Config) error { return f.apply(fs, cfg) },
	}
}

func (f *k6RunFlags) apply(fs *pflag.FlagSet, cfg *engine.Config) error {
	path := f.config
	if !fs.Changed("config") {
		path = cfg.Env["K6_CONFIG"]
	}
	var fileOuts []string
	fileLinger := false
	if path != "" {
		layer, outs, linger, err := readK6Config(path)
		if err != nil {
			return err
		}
		cfg.FileOptions, fileOuts, fileLinger = layer, outs, linger
	}
	// --out replaces K6_OUT, which replaces the config file's "out" (k6).
	if !fs.Changed("out") {
		if v := cfg.Env["K6_OUT"]; v != "" {
			cfg.Outs = splitComma(v)
		} else if len(fileOuts) > 0 {
			cfg.Outs = fileOuts
		}
	}
	var err error
	set := func(flag, env string, dst *bool, fileValue bool) {
		if err != nil || fs.Changed(flag) {
			return
		}
		if v, ok := cfg.Env[env]; ok && v != "" {
			b, perr := strconv.ParseBool(v)
			if perr != nil {
				err = fmt.Errorf("%s=%q: want true or false", env, v)
				return
			}
			*dst = b
			return
		}
		if fileValue {
			*dst = true
		}
	}
	set("no-summary", "K6_NO_SUMMARY", &cfg.NoSummary, false)
	cfg.NoThresholds, cfg.NoSetup, cfg.NoTeardown = f.noThresholds, f.noSetup, f.noTeardown
	set("no-thresholds", "K6_NO_THRESHOLDS", &cfg.NoThresholds, false)
	set("no-setup", "K6_NO_SETUP", &cfg.NoSetup, false)
	set("no-teardown", "K6_NO_TEARDOWN", &cfg.NoTeardown, false)
	lingerRequested = f.linger
	set("linger", "K6_LINGER", &lingerRequested, fileLinger)
	if err != nil {
		return err
	}
	if fs.Changed("summary-trend-stats") {
		if cfg.CLI == nil {
			cfg.CLI = options.Layer{}
		}
		_ = cfg.CLI.Set("summaryTrendStats", splitComma(f.trendStats))
	}
	return nil
}

// readK6Config reads k6's JSON config file: an object of options, plus
// the run settings "out" (a list or a string) and "linger", which are not
// options. Keys k6 keeps for its cloud ("collectors", "ext") are ignored.
func readK6Config(path string) (options.Layer, []string, bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, false, fmt.Errorf("--config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, false, fmt.Errorf("--config %s: not a JSON object: %w", path, err)
	}
	var outs []string
	if o, ok := raw["out"]; ok {
		var one string
		if json.Unmarshal(o, &outs) != nil {
			if err := json.Unmarshal(o, &one); err != nil {
				return nil, nil, false, fmt.Errorf("--config %s: \"out\": want a list of outputs or a string", path)
			}
			outs = splitComma(one)
		}
	}
	linger := false
	if l, ok := raw["linger"]; ok {
		if err := json.Unmarshal(l, &linger); err != nil {
			return nil, nil, false, fmt.Errorf("--config %s: \"linger\": want true or false", path)
		}
	}
	for _, k := range []string{"out", "linger", "collectors", "ext", "noUsageReport"} {
		delete(raw, k)
	}
	rest, _ := json.Marshal(raw)
	layer, err := options.ParseScript(rest)
	if err != nil {
		return nil, nil, false, fmt.Errorf("--config %s: %w", path, err)
	}
	return layer, outs, linger, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
