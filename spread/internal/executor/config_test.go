package executor

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"1h", time.Hour, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"250ms", 250 * time.Millisecond, true},
		{"1d", 24 * time.Hour, true},
		{"2d3h", 51 * time.Hour, true},
		{"1500", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"-1s", -time.Second, true},
		{"", 0, false},
		{"abc", 0, false},
		{"1x", 0, false},
		{"d", 0, false},
		{"1d-1h", 0, false},
		{"99999999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.D() != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got.D(), err, tt.want, tt.ok)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"30s"`, 30 * time.Second, true},
		{`1000`, time.Second, true},
		{`1.5`, 1500 * time.Microsecond, true},
		{`null`, 0, true},
		{`true`, 0, false},
		{`"x"`, 0, false},
		{`1e300`, 0, false},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || (tt.ok && d.D() != tt.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v ok=%v", tt.in, d.D(), err, tt.want, tt.ok)
		}
	}
	b, _ := json.Marshal(Duration(90 * time.Second))
	if string(b) != `"1m30s"` {
		t.Errorf("Marshal = %s", b)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1m30s", "1d", "1500", "-1h", "1.5d", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// What parses must round-trip through its own formatting.
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %v, %v", s, d, back, err)
		}
	})
}

func TestParseScenariosDefaults(t *testing.T) {
	raw := `{
	  "zeta": {"executor": "constant-vus", "duration": "30s"},
	  "alpha": {"executor": "ramping-vus", "stages": [{"duration": "10s", "target": 5}], "exec": "browse", "env": {"A": "1"}, "tags": {"t": "x"}},
	  "pvi": {"executor": "per-vu-iterations"},
	  "si": {"executor": "shared-iterations", "vus": 2, "iterations": 10, "startTime": "5s"},
	  "car": {"executor": "constant-arrival-rate", "rate": 10, "duration": "1m", "preAllocatedVUs": 3, "gracefulStop": 0},
	  "rar": {"executor": "ramping-arrival-rate", "stages": [{"duration": 1000, "target": 2}], "preAllocatedVUs": 1, "maxVUs": 4, "timeUnit": "1m"}
	}`
	cfgs, err := ParseScenarios(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	s := func(d time.Duration) Duration { return Duration(d) }
	want := []Config{
		{Name: "zeta", Executor: ConstantVUs, VUs: 1, Duration: s(30 * time.Second), GracefulStop: DefaultGracefulStop, Exec: "default"},
		{Name: "alpha", Executor: RampingVUs, StartVUs: 1, Stages: []Stage{{s(10 * time.Second), 5}}, GracefulRampDown: DefaultGracefulRampDown,
			GracefulStop: DefaultGracefulStop, Exec: "browse", Env: map[string]string{"A": "1"}, Tags: map[string]string{"t": "x"}},
		{Name: "pvi", Executor: PerVUIterations, VUs: 1, Iterations: 1, MaxDuration: DefaultMaxDuration, GracefulStop: DefaultGracefulStop, Exec: "default"},
		{Name: "si", Executor: SharedIterations, VUs: 2, Iterations: 10, MaxDuration: DefaultMaxDuration, StartTime: s(5 * time.Second), GracefulStop: DefaultGracefulStop, Exec: "default"},
		{Name: "car", Executor: ConstantArrivalRate, Rate: 10, Duration: s(time.Minute), PreAllocatedVUs: 3, MaxVUs: 3, TimeUnit: DefaultTimeUnit, Exec: "default"},
		{Name: "rar", Executor: RampingArrivalRate, Stages: []Stage{{s(time.Second), 2}}, PreAllocatedVUs: 1, MaxVUs: 4, TimeUnit: s(time.Minute), GracefulStop: DefaultGracefulStop, Exec: "default"},
	}
	if !reflect.DeepEqual(cfgs, want) {
		for i := range want {
			if i >= len(cfgs) || !reflect.DeepEqual(cfgs[i], want[i]) {
				t.Errorf("scenario %d:\n got %+v\nwant %+v", i, cfgs[i], want[i])
			}
		}
	}
}

func TestParseScenariosErrors(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`[]`, "must be an object"},
		{`{"a": 1}`, "must be an object"},
		{`{"a": {}}`, `missing "executor"`},
		{`{"a": {"executor": "constant-rps"}}`, `unknown executor "constant-rps"`},
		{`{"a b": {"executor": "constant-vus", "duration": "1s"}}`, "invalid name"},
		{`{"a": {"executor": "constant-vus"}}`, `missing required option "duration"`},
		{`{"a": {"executor": "constant-vus", "duration": "1s", "rate": 3}}`, "unknown option(s) rate"},
		{`{"a": {"executor": "constant-vus", "duration": "1s", "vus": -1}}`, "vus must be more than 0"},
		{`{"a": {"executor": "constant-vus", "duration": "1s", "vus": 1.5}}`, `"vus"`},
		{`{"a": {"executor": "constant-vus", "duration": "-1s"}}`, "duration must be more than 0"},
		{`{"a": {"executor": "constant-vus", "duration": "1s", "startTime": "-2s"}}`, "startTime must not be negative"},
		{`{"a": {"executor": "constant-vus", "duration": "soon"}}`, `"duration"`},
		{`{"a": {"executor": "shared-iterations", "vus": 5, "iterations": 2}}`, "can't be less than the number of VUs"},
		{`{"a": {"executor": "ramping-vus", "stages": []}}`, "at least one stage"},
		{`{"a": {"executor": "ramping-vus", "stages": [{"duration": "1s"}]}}`, "missing target"},
		{`{"a": {"executor": "ramping-vus", "stages": [{"duration": "1s", "target": -1}]}}`, "must not be negative"},
		{`{"a": {"executor": "ramping-vus", "stages": [{"duration": "0s", "target": 1}]}}`, "total duration"},
		{`{"a": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}]}}`, "never run a VU"},
		{`{"a": {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s"}}`, `missing required option "preAllocatedVUs"`},
		{`{"a": {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 5, "maxVUs": 2}}`, "maxVUs (2) can't be less than preAllocatedVUs (5)"},
		{`{"a": {"executor": "constant-arrival-rate", "rate": 0, "duration": "1s", "preAllocatedVUs": 1}}`, "rate must be more than 0"},
		{`{"a": {"executor": "ramping-arrival-rate", "stages": [{"duration": "1s", "target": 1}], "preAllocatedVUs": 1, "timeUnit": "0s"}}`, "timeUnit must be more than 0"},
		{`{"a": {"executor": "constant-vus", "duration": "1s"}, "a": {"executor": "constant-vus", "duration": "1s"}}`, "defined twice"},
		{`{"a": {"executor": "constant-vus", "duration": "1s"}} x`, "trailing data"},
	}
	for _, tt := range tests {
		_, err := ParseScenarios(json.RawMessage(tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseScenarios(%s) error = %v; want one containing %q", tt.raw, err, tt.want)
		}
	}
}

func FuzzParseScenarios(f *testing.F) {
	seeds := []string{
		`{"a": {"executor": "constant-vus", "vus": 2, "duration": "10s"}}`,
		`{"b": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "5s", "target": 3}, {"duration": 1000, "target": 0}]}}`,
		`{"c": {"executor": "per-vu-iterations", "vus": 2, "iterations": 3, "maxDuration": "1m"}}`,
		`{"d": {"executor": "shared-iterations", "vus": 2, "iterations": 3, "startTime": "1s", "exec": "f", "env": {"X": "y"}, "tags": {"k": "v"}}}`,
		`{"e": {"executor": "constant-arrival-rate", "rate": 5, "timeUnit": "1m", "duration": "1m", "preAllocatedVUs": 1, "maxVUs": 3}}`,
		`{"f": {"executor": "ramping-arrival-rate", "startRate": 1, "stages": [{"duration": "1s", "target": 4}], "preAllocatedVUs": 1}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		t0 := time.Now()
		defer func() {
			if d := time.Since(t0); d > 2*time.Second {
				t.Fatalf("SLOW %v on %d bytes: %.300q", d, len(raw), raw)
			}
		}()
		cfgs, err := ParseScenarios(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, c := range cfgs {
			if err := c.Validate(); err != nil {
				t.Fatalf("parsed scenario does not validate: %v", err)
			}
			_ = c.Description()
		}
		// Marshalled back, each scenario parses to itself.
		for _, c := range cfgs {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back, err := ParseScenario(c.Name, b)
			if err != nil {
				t.Fatalf("re-parse %s: %v", b, err)
			}
			if !reflect.DeepEqual(normalise(back), normalise(c)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", back, c)
			}
		}
		// A parsed set must be schedulable without panics.
		if len(cfgs) > 0 {
			s, err := New(cfgs, Segment{}, Hooks{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.PreInitVUs() > s.MaxVUs() {
				t.Fatalf("PreInitVUs %d > MaxVUs %d", s.PreInitVUs(), s.MaxVUs())
			}
		}
	})
}

func TestFromShortcuts(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	dur := func(d time.Duration) *Duration { x := Duration(d); return &x }
	tests := []struct {
		name string
		in   Shortcuts
		want string // Description, or error substring
		ok   bool
	}{
		{"nothing", Shortcuts{}, "1 iterations for each of 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)", true},
		{"vus only", Shortcuts{VUs: i64(3)}, "1 iterations for each of 3 VUs", true},
		{"duration", Shortcuts{VUs: i64(10), Duration: dur(30 * time.Second)}, "10 looping VUs for 30s (gracefulStop: 30s)", true},
		{"iterations", Shortcuts{VUs: i64(5), Iterations: i64(10)}, "10 iterations shared among 5 VUs (maxDuration: 10m0s", true},
		{"iterations+duration", Shortcuts{Iterations: i64(10), Duration: dur(time.Minute)}, "10 iterations shared among 1 VUs (maxDuration: 1m0s", true},
		{"stages", Shortcuts{VUs: i64(0), Stages: []Stage{{Duration(10 * time.Second), 100}, {Duration(10 * time.Second), 0}}},
			"Up to 100 looping VUs for 20s over 2 stages (gracefulRampDown: 30s, gracefulStop: 30s)", true},
		{"stages+duration", Shortcuts{Duration: dur(time.Second), Stages: []Stage{{Duration(time.Second), 1}}}, "duration and stages", false},
		{"stages+iterations", Shortcuts{Iterations: i64(1), Stages: []Stage{{Duration(time.Second), 1}}}, "iterations and stages", false},
		{"zero vus", Shortcuts{VUs: i64(0), Duration: dur(time.Second)}, "vus must be more than 0", false},
		{"zero duration", Shortcuts{Duration: dur(0)}, "duration must be more than 0", false},
	}
	for _, tt := range tests {
		c, err := FromShortcuts(tt.in)
		if tt.ok {
			if err != nil || !strings.HasPrefix(c.Description(), tt.want) || c.Name != DefaultScenarioName {
				t.Errorf("%s: FromShortcuts = %q, %v; want %q", tt.name, c.Description(), err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseStage(t *testing.T) {
	tests := []struct {
		in   string
		want Stage
		ok   bool
	}{
		{"10s:100", Stage{Duration(10 * time.Second), 100}, true},
		{"1m", Stage{Duration(time.Minute), 0}, true},
		{"1m:", Stage{Duration(time.Minute), 0}, true},
		{"10s:1.5", Stage{}, false},
		{"x:1", Stage{}, false},
		{"10s:-1", Stage{}, false},
	}
	for _, tt := range tests {
		got, err := ParseStage(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseStage(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestDescriptions(t *testing.T) {
	cfgs, err := ParseScenarios(json.RawMessage(`{
	  "a": {"executor": "constant-arrival-rate", "rate": 10, "duration": "1m", "preAllocatedVUs": 2, "maxVUs": 20, "startTime": "5s", "exec": "api"},
	  "b": {"executor": "ramping-arrival-rate", "stages": [{"duration": "30s", "target": 60}], "timeUnit": "1m", "preAllocatedVUs": 1}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"10.00 iterations/s for 1m0s (startTime: 5s, maxVUs: 2-20, gracefulStop: 30s, exec: api)",
		"Up to 1.00 iterations/s for 30s over 1 stages (maxVUs: 1-1, gracefulStop: 30s)",
	}
	for i, c := range cfgs {
		if got := c.Description(); got != want[i] {
			t.Errorf("Description = %q, want %q", got, want[i])
		}
	}
}

// normalise makes empty and nil maps compare equal.
func normalise(c Config) Config {
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.Stages) == 0 {
		c.Stages = nil
	}
	return c
}

func TestConfigJSONRoundTrip(t *testing.T) {
	raw := `{"a": {"executor": "ramping-vus", "startVUs": 0, "gracefulStop": 0, "stages": [{"duration": "1s", "target": 2}], "tags": {"x": "y"}},
		"b": {"executor": "constant-arrival-rate", "rate": 3, "duration": "5s", "preAllocatedVUs": 0, "maxVUs": 2, "startTime": "1s"}}`
	cfgs := mustScenarios(t, raw)
	for _, c := range cfgs {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseScenario(c.Name, b)
		if err != nil || !reflect.DeepEqual(normalise(back), normalise(c)) {
			t.Errorf("%s: %s -> %+v, %v", c.Name, b, back, err)
		}
		if strings.Contains(string(b), `"rate"`) != (c.Executor == ConstantArrivalRate) {
			t.Errorf("%s: keys of another executor in %s", c.Name, b)
		}
	}
}
