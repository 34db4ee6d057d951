package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// k6's defaults.
const (
	DefaultGracefulStop     = Duration(30 * time.Second)
	DefaultGracefulRampDown = Duration(30 * time.Second)
	DefaultMaxDuration      = Duration(10 * time.Minute)
	DefaultTimeUnit         = Duration(time.Second)
	DefaultExec             = "default"
)

// Upper bounds that keep the schedule arithmetic far from overflow; far
// above anything one process (or a fleet) can run.
const (
	maxVUsLimit   = 100_000_000
	maxIterLimit  = 1 << 53
	maxRateLimit  = 1_000_000_000
	maxTimeLimit  = Duration(20 * 365 * 24 * time.Hour) // startTime+length+gracefulStop stays below int64 ns
	maxStageCount = 10_000
)

var scenarioNameRE = regexp.MustCompile(`^[0-9A-Za-z_-]+$`)

// common keys every executor accepts; "options" holds browser options in k6
// and is ignored here.
var commonKeys = []string{"executor", "startTime", "gracefulStop", "exec", "env", "tags", "options"}

var executorKeys = map[string][]string{
	ConstantVUs:         {"vus", "duration"},
	RampingVUs:          {"stages", "startVUs", "gracefulRampDown"},
	PerVUIterations:     {"vus", "iterations", "maxDuration"},
	SharedIterations:    {"vus", "iterations", "maxDuration"},
	ConstantArrivalRate: {"rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"},
	RampingArrivalRate:  {"startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"},
}

// Executors lists the executor names this package runs.
func Executors() []string {
	names := make([]string, 0, len(executorKeys))
	for n := range executorKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseScenarios parses the JSON of `options.scenarios` (an object of
// name → scenario), fills in k6's defaults and validates every scenario.
// Scenarios come back in the order of the JSON object. Unknown executors,
// keys that do not belong to the executor, missing required keys and
// out-of-range values are errors naming the scenario and the key.
func ParseScenarios(raw json.RawMessage) ([]Config, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	if tok == nil { // null
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("scenarios: must be an object of name to scenario")
	}
	var cfgs []Config
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("scenarios: %w", err)
		}
		name, _ := tok.(string)
		var body json.RawMessage
		if err := dec.Decode(&body); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", name, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("scenario %q: defined twice", name)
		}
		seen[name] = true
		cfg, err := ParseScenario(name, body)
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, cfg)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("scenarios: trailing data")
	}
	return cfgs, nil
}

// ParseScenario parses and validates one scenario's JSON body.
func ParseScenario(name string, body json.RawMessage) (Config, error) {
	fail := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("scenario %q: "+format, append([]any{name}, a...)...)
	}
	if !scenarioNameRE.MatchString(name) {
		return fail("invalid name (use letters, digits, '_' and '-')")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return fail("must be an object")
	}
	var executor string
	if raw, ok := fields["executor"]; !ok {
		return fail("missing \"executor\" (one of %s)", strings.Join(Executors(), ", "))
	} else if err := json.Unmarshal(raw, &executor); err != nil {
		return fail("\"executor\" must be a string")
	}
	keys, ok := executorKeys[executor]
	if !ok {
		return fail("unknown executor %q (one of %s)", executor, strings.Join(Executors(), ", "))
	}
	allowed := map[string]bool{}
	for _, k := range append(append([]string{}, commonKeys...), keys...) {
		allowed[k] = true
	}
	var unknown []string
	for k := range fields {
		if !allowed[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail("unknown option(s) %s for executor %s", strings.Join(unknown, ", "), executor)
	}
	delete(fields, "options")
	var cfg Config
	// Decode field by field so the error names the key.
	for k, raw := range fields {
		if err := decodeField(&cfg, k, raw); err != nil {
			return fail("%q: %v", k, err)
		}
	}
	cfg.Name = name
	has := func(k string) bool { _, ok := fields[k]; return ok }
	applyDefaults(&cfg, has)
	for _, req := range requiredKeys(executor) {
		if !has(req) {
			return fail("missing required option %q for executor %s", req, executor)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func requiredKeys(executor string) []string {
	if k, ok := kinds[executor]; ok {
		return k.required()
	}
	return nil
}

func decodeField(cfg *Config, key string, raw json.RawMessage) error {
	var dst any
	switch key {
	case "executor":
		dst = &cfg.Executor
	case "startTime":
		dst = &cfg.StartTime
	case "gracefulStop":
		dst = &cfg.GracefulStop
	case "exec":
		dst = &cfg.Exec
	case "env":
		dst = &cfg.Env
	case "tags":
		dst = &cfg.Tags
	case "vus":
		dst = &cfg.VUs
	case "iterations":
		dst = &cfg.Iterations
	case "duration":
		dst = &cfg.Duration
	case "maxDuration":
		dst = &cfg.MaxDuration
	case "stages":
		dst = &cfg.Stages
	case "startVUs":
		dst = &cfg.StartVUs
	case "gracefulRampDown":
		dst = &cfg.GracefulRampDown
	case "rate":
		dst = &cfg.Rate
	case "startRate":
		dst = &cfg.StartRate
	case "timeUnit":
		dst = &cfg.TimeUnit
	case "preAllocatedVUs":
		dst = &cfg.PreAllocatedVUs
	case "maxVUs":
		dst = &cfg.MaxVUs
	default:
		return fmt.Errorf("unknown option")
	}
	if key == "stages" {
		return decodeStages(raw, &cfg.Stages)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return fmt.Errorf("cannot use %s here (want %s)", ute.Value, ute.Type)
		}
		return err
	}
	return nil
}

func decodeStages(raw json.RawMessage, dst *[]Stage) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("must be an array of {duration, target}")
	}
	stages := make([]Stage, 0, len(items))
	for i, it := range items {
		var f map[string]json.RawMessage
		if err := json.Unmarshal(it, &f); err != nil || f == nil {
			return fmt.Errorf("stage %d: must be an object {duration, target}", i)
		}
		var st Stage
		for k, v := range f {
			var err error
			switch k {
			case "duration":
				err = json.Unmarshal(v, &st.Duration)
			case "target":
				err = json.Unmarshal(v, &st.Target)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return fmt.Errorf("stage %d: %s: %v", i, k, err)
			}
		}
		if _, ok := f["duration"]; !ok {
			return fmt.Errorf("stage %d: missing duration", i)
		}
		if _, ok := f["target"]; !ok {
			return fmt.Errorf("stage %d: missing target", i)
		}
		stages = append(stages, st)
	}
	*dst = stages
	return nil
}

func applyDefaults(cfg *Config, has func(string) bool) {
	if !has("gracefulStop") {
		cfg.GracefulStop = DefaultGracefulStop
	}
	if cfg.Exec == "" {
		cfg.Exec = DefaultExec
	}
	if k, ok := kinds[cfg.Executor]; ok {
		k.defaults(cfg, has)
	}
}

// Validate checks a complete Config (defaults applied) against k6's rules.
func (c Config) Validate() error {
	v := validator{c}
	k, ok := kinds[c.Executor]
	if !ok {
		return v.fail("unknown executor %q (one of %s)", c.Executor, strings.Join(Executors(), ", "))
	}
	durs := []struct {
		name string
		d    Duration
	}{{"startTime", c.StartTime}, {"gracefulStop", c.GracefulStop}, {"gracefulRampDown", c.GracefulRampDown}}
	for _, d := range durs {
		if d.d < 0 {
			return v.fail("%s must not be negative (got %s)", d.name, d.d)
		}
		if d.d > maxTimeLimit {
			return v.fail("%s %s is too long", d.name, d.d)
		}
	}
	if c.Exec == "" {
		return v.fail("exec must not be empty")
	}
	return k.validate(c, v)
}

// maxTarget is the largest VU count (ramping-vus) or rate (ramping-arrival-rate).
func (c Config) maxTarget() int64 {
	m := c.StartVUs
	if c.Executor == RampingArrivalRate {
		m = c.StartRate
	}
	for _, st := range c.Stages {
		m = max(m, st.Target)
	}
	return m
}

// Shortcuts are the top-level vus/duration/iterations/stages options (script
// or CLI); nil means "not set".
type Shortcuts struct {
	VUs        *int64
	Duration   *Duration
	Iterations *int64
	Stages     []Stage
}

// FromShortcuts builds the "default" scenario from the shortcut options, by
// k6's rules: iterations → shared-iterations (duration, if set, becomes
// maxDuration); duration → constant-vus; stages → ramping-vus (vus becomes
// startVUs); none → per-vu-iterations, one iteration per VU. stages together
// with duration or iterations is an error.
func FromShortcuts(s Shortcuts) (Config, error) {
	vus := int64(1)
	if s.VUs != nil {
		vus = *s.VUs
	}
	cfg := Config{Name: DefaultScenarioName, GracefulStop: DefaultGracefulStop, Exec: DefaultExec}
	switch {
	case len(s.Stages) > 0 && s.Duration != nil:
		return Config{}, fmt.Errorf("options: using the shortcuts duration and stages at the same time is not allowed")
	case len(s.Stages) > 0 && s.Iterations != nil:
		return Config{}, fmt.Errorf("options: using the shortcuts iterations and stages at the same time is not allowed")
	case s.Iterations != nil:
		cfg.Executor = SharedIterations
		cfg.VUs, cfg.Iterations, cfg.MaxDuration = vus, *s.Iterations, DefaultMaxDuration
		if s.Duration != nil && *s.Duration > 0 {
			cfg.MaxDuration = *s.Duration
		}
	case s.Duration != nil:
		cfg.Executor = ConstantVUs
		cfg.VUs, cfg.Duration = vus, *s.Duration
	case len(s.Stages) > 0:
		cfg.Executor = RampingVUs
		cfg.StartVUs, cfg.Stages, cfg.GracefulRampDown = vus, s.Stages, DefaultGracefulRampDown
	default:
		cfg.Executor = PerVUIterations
		cfg.VUs, cfg.Iterations, cfg.MaxDuration = vus, 1, DefaultMaxDuration
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("options: %w", err)
	}
	return cfg, nil
}

// ParseStage parses the CLI form of a stage, "DURATION:TARGET" (target
// defaults to 0 when omitted, as k6's -s flag).
func ParseStage(s string) (Stage, error) {
	d, t, found := strings.Cut(s, ":")
	dur, err := ParseDuration(d)
	if err != nil {
		return Stage{}, fmt.Errorf("stage %q: %w", s, err)
	}
	st := Stage{Duration: dur}
	if found && strings.TrimSpace(t) != "" {
		if _, err := fmt.Sscanf(strings.TrimSpace(t), "%d", &st.Target); err != nil || strings.ContainsAny(strings.TrimSpace(t), ".eE") {
			return Stage{}, fmt.Errorf("stage %q: target must be an integer", s)
		}
	}
	if st.Duration < 0 || st.Target < 0 {
		return Stage{}, fmt.Errorf("stage %q: duration and target must not be negative", s)
	}
	return st, nil
}

// Length is the scenario's planned length from its start, without gracefulStop
// (maxDuration for the iteration executors).
func (c Config) Length() time.Duration {
	if k, ok := kinds[c.Executor]; ok {
		return k.length(c)
	}
	return 0
}

// Description is a one-line summary in k6's words, e.g.
// "10 looping VUs for 30s (gracefulStop: 30s)".
func (c Config) Description() string {
	var s string
	extra := []string{}
	if c.StartTime > 0 {
		extra = append(extra, "startTime: "+c.StartTime.String())
	}
	if k, ok := kinds[c.Executor]; ok {
		var more []string
		s, more = k.describe(c)
		extra = append(extra, more...)
	}
	extra = append(extra, "gracefulStop: "+c.GracefulStop.String())
	if c.Exec != "" && c.Exec != DefaultExec {
		extra = append(extra, "exec: "+c.Exec)
	}
	return s + " (" + strings.Join(extra, ", ") + ")"
}

func perSecond(rate int64, unit Duration) float64 {
	if unit <= 0 {
		return 0
	}
	return float64(rate) * float64(time.Second) / float64(unit)
}

// MarshalJSON writes the scenario with k6's keys, only those that apply
// to its executor, so the output parses back to the same Config.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"executor":     c.Executor,
		"gracefulStop": c.GracefulStop,
		"exec":         c.Exec,
	}
	if c.StartTime != 0 {
		m["startTime"] = c.StartTime
	}
	if len(c.Env) > 0 {
		m["env"] = c.Env
	}
	if len(c.Tags) > 0 {
		m["tags"] = c.Tags
	}
	all := map[string]any{
		"vus": c.VUs, "iterations": c.Iterations, "duration": c.Duration, "maxDuration": c.MaxDuration,
		"stages": c.Stages, "startVUs": c.StartVUs, "gracefulRampDown": c.GracefulRampDown,
		"rate": c.Rate, "startRate": c.StartRate, "timeUnit": c.TimeUnit,
		"preAllocatedVUs": c.PreAllocatedVUs, "maxVUs": c.MaxVUs,
	}
	for _, k := range executorKeys[c.Executor] {
		m[k] = all[k]
	}
	return json.Marshal(m)
}
