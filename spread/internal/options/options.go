// Package options consolidates a run's options as k6 does: the script's
// `export const options`, then K6_* environment variables, then command
// line flags, each tier overriding the one before; and validates them.
package options

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
)

// Layer is one tier of options: raw JSON values by k6 option name.
type Layer map[string]json.RawMessage

// Set stores v (marshalled to JSON) under key.
func (l Layer) Set(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("option %s: %w", key, err)
	}
	l[key] = b
	return nil
}

// ParseScript reads the script's options object (JSON); nil or "null" is empty.
func ParseScript(raw []byte) (Layer, error) {
	l := Layer{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return l, nil
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("script options: %w", err)
	}
	return l, nil
}

// executionKeys are the options that together say how the test runs: a
// tier setting any of them replaces all of them from lower tiers (k6's
// rule, so `-d 10s` on the command line replaces the script's scenarios).
var executionKeys = []string{"duration", "iterations", "stages", "scenarios"}

// Consolidate merges tiers from lowest to highest precedence. Maps that
// merge rather than replace: tags (higher tiers add and override keys).
func Consolidate(tiers ...Layer) Layer {
	out := Layer{}
	for _, t := range tiers {
		for _, k := range executionKeys {
			if _, ok := t[k]; ok {
				for _, k2 := range executionKeys {
					delete(out, k2)
				}
				break
			}
		}
		for k, v := range t {
			if k == "tags" {
				out[k] = mergeTags(out[k], v)
				continue
			}
			out[k] = v
		}
	}
	return out
}

func mergeTags(lower, higher json.RawMessage) json.RawMessage {
	var a, b map[string]any
	if json.Unmarshal(lower, &a) != nil || a == nil {
		return higher
	}
	if json.Unmarshal(higher, &b) != nil {
		return higher
	}
	for k, v := range b {
		a[k] = v
	}
	out, _ := json.Marshal(a)
	return out
}

// Options are the consolidated options the engine itself reads; Raw keeps
// every key (modules read their own from it).
type Options struct {
	VUs                      int64
	Duration                 time.Duration
	Iterations               int64
	Stages                   []executor.Stage
	Scenarios                json.RawMessage
	Thresholds               json.RawMessage
	Tags                     map[string]string
	SummaryTrendStats        []string
	SummaryTimeUnit          string
	SetupTimeout             time.Duration
	TeardownTimeout          time.Duration
	ExecutionSegment         string
	ExecutionSegmentSequence string

	// Set says which of VUs, Duration, Iterations, Stages, Scenarios were given.
	Set map[string]bool
	// Raw is every consolidated option as JSON.
	Raw ext.Options
}

// Defaults of k6 for the options the engine reads.
const (
	DefaultSetupTimeout    = 60 * time.Second
	DefaultTeardownTimeout = 60 * time.Second
)

// Decode validates l and decodes the engine's options; errors name the option.
func Decode(l Layer) (*Options, error) {
	o := &Options{Set: map[string]bool{}, Raw: ext.Options{}, SetupTimeout: DefaultSetupTimeout,
		TeardownTimeout: DefaultTeardownTimeout}
	for k, v := range l {
		o.Raw[k] = v
	}
	var errs []string
	fail := func(key string, err error) { errs = append(errs, fmt.Sprintf("option %s: %v", key, err)) }
	has := func(k string) bool {
		v, ok := l[k]
		return ok && len(v) > 0 && string(v) != "null"
	}
	if has("vus") {
		o.Set["vus"] = true
		if err := decodeInt(l["vus"], &o.VUs); err != nil {
			fail("vus", err)
		} else if o.VUs < 0 {
			fail("vus", fmt.Errorf("must be 0 or more, got %d", o.VUs))
		}
	}
	if has("duration") {
		o.Set["duration"] = true
		var d executor.Duration
		if err := json.Unmarshal(l["duration"], &d); err != nil {
			fail("duration", err)
		} else if d < 0 {
			fail("duration", fmt.Errorf("must not be negative, got %s", d))
		}
		o.Duration = d.D()
	}
	if has("iterations") {
		o.Set["iterations"] = true
		if err := decodeInt(l["iterations"], &o.Iterations); err != nil {
			fail("iterations", err)
		} else if o.Iterations < 0 {
			fail("iterations", fmt.Errorf("must be 0 or more, got %d", o.Iterations))
		}
	}
	if has("stages") {
		o.Set["stages"] = true
		if err := json.Unmarshal(l["stages"], &o.Stages); err != nil {
			fail("stages", err)
		}
		for i, s := range o.Stages {
			if s.Target < 0 || s.Duration < 0 {
				fail("stages", fmt.Errorf("stage %d: duration and target must not be negative", i+1))
			}
		}
	}
	if has("scenarios") {
		o.Set["scenarios"] = true
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l["scenarios"], &m); err != nil {
			fail("scenarios", fmt.Errorf("must be an object of scenarios: %v", err))
		}
		o.Scenarios = l["scenarios"]
	}
	if has("thresholds") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l["thresholds"], &m); err != nil {
			fail("thresholds", fmt.Errorf("must be an object {metric: [expressions]}: %v", err))
		}
		o.Thresholds = l["thresholds"]
	}
	if has("tags") {
		var m map[string]any
		if err := json.Unmarshal(l["tags"], &m); err != nil {
			fail("tags", fmt.Errorf("must be an object of strings: %v", err))
		}
		o.Tags = map[string]string{}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				o.Tags[k] = x
			case float64, bool:
				o.Tags[k] = fmt.Sprint(x)
			default:
				fail("tags", fmt.Errorf("tag %q must be a string", k))
			}
		}
	}
	if has("summaryTrendStats") {
		if err := json.Unmarshal(l["summaryTrendStats"], &o.SummaryTrendStats); err != nil {
			fail("summaryTrendStats", err)
		}
	}
	if has("summaryTimeUnit") {
		if err := json.Unmarshal(l["summaryTimeUnit"], &o.SummaryTimeUnit); err != nil {
			fail("summaryTimeUnit", err)
		}
		switch o.SummaryTimeUnit {
		case "", "s", "ms", "us":
		default:
			fail("summaryTimeUnit", fmt.Errorf("must be s, ms or us, got %q", o.SummaryTimeUnit))
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"setupTimeout", &o.SetupTimeout}, {"teardownTimeout", &o.TeardownTimeout}} {
		if has(d.key) {
			var v executor.Duration
			if err := json.Unmarshal(l[d.key], &v); err != nil {
				fail(d.key, err)
			} else if v <= 0 {
				fail(d.key, fmt.Errorf("must be positive, got %s", v))
			} else {
				*d.dst = v.D()
			}
		}
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"executionSegment", &o.ExecutionSegment}, {"executionSegmentSequence", &o.ExecutionSegmentSequence}} {
		if has(s.key) {
			if err := json.Unmarshal(l[s.key], s.dst); err != nil {
				fail(s.key, err)
			}
		}
	}
	if o.ExecutionSegment != "" || o.ExecutionSegmentSequence != "" {
		if _, err := executor.NewSegment(o.ExecutionSegment, o.ExecutionSegmentSequence); err != nil {
			fail("executionSegment", err)
		}
	}
	if o.Set["scenarios"] && countTrue(o.Set["duration"], o.Set["iterations"], o.Set["stages"]) > 0 {
		errs = append(errs, "options: use either scenarios or the shortcuts duration/iterations/stages, not both at the same level")
	}
	if o.Set["stages"] && (o.Set["duration"] || o.Set["iterations"]) {
		errs = append(errs, "options: stages cannot be combined with duration or iterations")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, &Error{Problems: errs}
	}
	return o, nil
}

// Error is an invalid configuration (exit code 104).
type Error struct{ Problems []string }

func (e *Error) Error() string { return "invalid options: " + strings.Join(e.Problems, "; ") }

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// decodeInt reads an integer that may come as a number or numeric string.
func decodeInt(raw json.RawMessage, dst *int64) error {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fmt.Errorf("must be a whole number, got %s", raw)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("must be a whole number, got %q", s)
		}
		*dst = n
		return nil
	}
	if f != float64(int64(f)) {
		return fmt.Errorf("must be a whole number, got %v", f)
	}
	*dst = int64(f)
	return nil
}

// ParseStage parses a `--stage` / K6_STAGES item "DURATION:TARGET".
func ParseStage(s string) (executor.Stage, error) { return executor.ParseStage(strings.TrimSpace(s)) }

// ScenarioConfigs returns the run's scenarios: options.scenarios, or the
// "default" scenario built from the shortcuts.
func (o *Options) ScenarioConfigs() ([]executor.Config, error) {
	if o.Set["scenarios"] {
		cfgs, err := executor.ParseScenarios(o.Scenarios)
		if err != nil {
			return nil, &Error{Problems: []string{strings.TrimPrefix(err.Error(), "options: ")}}
		}
		return cfgs, nil
	}
	var sc executor.Shortcuts
	if o.Set["vus"] {
		sc.VUs = &o.VUs
	}
	if o.Set["duration"] {
		d := executor.Duration(o.Duration)
		sc.Duration = &d
	}
	if o.Set["iterations"] {
		sc.Iterations = &o.Iterations
	}
	if o.Set["stages"] {
		sc.Stages = o.Stages
	}
	cfg, err := executor.FromShortcuts(sc)
	if err != nil {
		return nil, &Error{Problems: []string{strings.TrimPrefix(err.Error(), "options: ")}}
	}
	return []executor.Config{cfg}, nil
}

// ParseTag parses a `--tag` item "K=V".
func ParseTag(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("tag %q: want KEY=VALUE", s)
	}
	return k, v, nil
}
