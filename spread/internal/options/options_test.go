package options

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/internal/executor"
)

func layer(t *testing.T, js string) Layer {
	t.Helper()
	l, err := ParseScript([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return l
}

func TestConsolidatePrecedence(t *testing.T) {
	tests := []struct {
		name                string
		script, env, cli    string
		wantKeys            []string // present after consolidation
		wantGone            []string // absent after consolidation
		wantVUs             int64
		wantDuration        time.Duration
		wantTags            map[string]string
		wantExecutor        string
		wantScenarioVUs     int64
		wantScenarioCount   int
		wantNoConnReuse     string
		wantSetupTimeout    time.Duration
		wantSummaryStatsLen int
	}{
		{
			name:   "script only",
			script: `{"vus":5,"duration":"10s"}`, env: `{}`, cli: `{}`,
			wantVUs: 5, wantDuration: 10 * time.Second, wantExecutor: executor.ConstantVUs, wantScenarioVUs: 5, wantScenarioCount: 1,
		},
		{
			name:   "env overrides script, cli overrides env",
			script: `{"vus":5,"duration":"10s"}`, env: `{"vus":7}`, cli: `{"vus":9}`,
			wantVUs: 9, wantDuration: 10 * time.Second, wantExecutor: executor.ConstantVUs, wantScenarioVUs: 9, wantScenarioCount: 1,
		},
		{
			name:     "cli duration replaces script scenarios",
			script:   `{"scenarios":{"a":{"executor":"per-vu-iterations","vus":1,"iterations":1},"b":{"executor":"per-vu-iterations","vus":1,"iterations":1}}}`,
			env:      `{}`,
			cli:      `{"duration":"3s","vus":2}`,
			wantGone: []string{"scenarios"}, wantVUs: 2, wantDuration: 3 * time.Second,
			wantExecutor: executor.ConstantVUs, wantScenarioVUs: 2, wantScenarioCount: 1,
		},
		{
			name:     "cli iterations replace script duration",
			script:   `{"duration":"1m","vus":2}`,
			env:      `{}`,
			cli:      `{"iterations":10}`,
			wantGone: []string{"duration"}, wantVUs: 2, wantExecutor: executor.SharedIterations, wantScenarioVUs: 2, wantScenarioCount: 1,
		},
		{
			name:     "vus alone does not replace scenarios",
			script:   `{"scenarios":{"a":{"executor":"constant-vus","vus":3,"duration":"1s"}}}`,
			env:      `{}`,
			cli:      `{"vus":8}`,
			wantKeys: []string{"scenarios"}, wantVUs: 8, wantExecutor: executor.ConstantVUs, wantScenarioVUs: 3, wantScenarioCount: 1,
		},
		{
			name:   "tags merge across tiers",
			script: `{"tags":{"a":"1","b":"2"}}`, env: `{}`, cli: `{"tags":{"b":"3","c":"4"}}`,
			wantTags:     map[string]string{"a": "1", "b": "3", "c": "4"},
			wantExecutor: executor.PerVUIterations, wantScenarioVUs: 1, wantScenarioCount: 1,
		},
		{
			name:   "protocol options pass through; env bool overrides",
			script: `{"noConnectionReuse":false,"setupTimeout":"5s"}`, env: `{"noConnectionReuse":true}`, cli: `{}`,
			wantNoConnReuse: "true", wantSetupTimeout: 5 * time.Second,
			wantExecutor: executor.PerVUIterations, wantScenarioVUs: 1, wantScenarioCount: 1,
		},
		{
			name:   "stages shortcut from cli",
			script: `{"vus":4}`, env: `{}`, cli: `{"stages":[{"duration":"1s","target":3}]}`,
			wantVUs: 4, wantExecutor: executor.RampingVUs, wantScenarioCount: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Consolidate(layer(t, tt.script), layer(t, tt.env), layer(t, tt.cli))
			for _, k := range tt.wantKeys {
				if _, ok := l[k]; !ok {
					t.Errorf("key %s missing in %v", k, keys(l))
				}
			}
			for _, k := range tt.wantGone {
				if _, ok := l[k]; ok {
					t.Errorf("key %s should be gone, have %v", k, keys(l))
				}
			}
			o, err := Decode(l)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if tt.wantVUs != 0 && o.VUs != tt.wantVUs {
				t.Errorf("vus = %d, want %d", o.VUs, tt.wantVUs)
			}
			if o.Duration != tt.wantDuration {
				t.Errorf("duration = %s, want %s", o.Duration, tt.wantDuration)
			}
			for k, v := range tt.wantTags {
				if o.Tags[k] != v {
					t.Errorf("tag %s = %q, want %q (tags %v)", k, o.Tags[k], v, o.Tags)
				}
			}
			if tt.wantNoConnReuse != "" && string(o.Raw["noConnectionReuse"]) != tt.wantNoConnReuse {
				t.Errorf("noConnectionReuse = %s, want %s", o.Raw["noConnectionReuse"], tt.wantNoConnReuse)
			}
			if tt.wantSetupTimeout != 0 && o.SetupTimeout != tt.wantSetupTimeout {
				t.Errorf("setupTimeout = %s", o.SetupTimeout)
			}
			scens, err := o.ScenarioConfigs()
			if err != nil {
				t.Fatalf("scenarios: %v", err)
			}
			if len(scens) != tt.wantScenarioCount {
				t.Fatalf("got %d scenarios, want %d", len(scens), tt.wantScenarioCount)
			}
			if scens[0].Executor != tt.wantExecutor {
				t.Errorf("executor = %s, want %s", scens[0].Executor, tt.wantExecutor)
			}
			if tt.wantScenarioVUs != 0 && scens[0].VUs != tt.wantScenarioVUs {
				t.Errorf("scenario vus = %d, want %d", scens[0].VUs, tt.wantScenarioVUs)
			}
		})
	}
}

func keys(l Layer) []string {
	var out []string
	for k := range l {
		out = append(out, k)
	}
	return out
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, js, want string
	}{
		{"negative vus", `{"vus":-1}`, "option vus"},
		{"fractional vus", `{"vus":1.5}`, "whole number"},
		{"bad duration", `{"duration":"ten seconds"}`, "option duration"},
		{"scenarios with duration", `{"duration":"1s","scenarios":{"a":{"executor":"constant-vus","vus":1,"duration":"1s"}}}`, "not both"},
		{"stages with duration", `{"duration":"1s","stages":[{"duration":"1s","target":1}]}`, "stages cannot"},
		{"thresholds not object", `{"thresholds":["p(95)<1"]}`, "option thresholds"},
		{"tags not strings", `{"tags":{"a":{"b":1}}}`, "tag \"a\""},
		{"bad time unit", `{"summaryTimeUnit":"h"}`, "summaryTimeUnit"},
		{"bad segment", `{"executionSegment":"2:1"}`, "executionSegment"},
		{"zero setup timeout", `{"setupTimeout":"0s"}`, "setupTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(layer(t, tt.js))
			if err == nil {
				t.Fatalf("no error for %s", tt.js)
			}
			var oe *Error
			if !asError(err, &oe) {
				t.Fatalf("error %T is not *options.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func asError(err error, dst **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*dst = e
	}
	return ok
}

func TestScenarioErrorsAreConfigErrors(t *testing.T) {
	o, err := Decode(layer(t, `{"scenarios":{"a":{"executor":"no-such"}}}`))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if _, err := o.ScenarioConfigs(); err == nil || !strings.Contains(err.Error(), "a") {
		t.Fatalf("want an error naming scenario a, got %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	l, err := FromEnv(map[string]string{
		"K6_VUS": "4", "K6_DURATION": "90s", "K6_STAGES": "10s:5,20s:0", "K6_TAGS": "a=1,b=2",
		"K6_NO_CONNECTION_REUSE": "true", "K6_SUMMARY_TREND_STATS": "avg, p(99)", "UNRELATED": "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"vus":               `4`,
		"duration":          `"1m30s"`,
		"stages":            `[{"duration":"10s","target":5},{"duration":"20s","target":0}]`,
		"tags":              `{"a":"1","b":"2"}`,
		"noConnectionReuse": `true`,
		"summaryTrendStats": `["avg","p(99)"]`,
	}
	for k, v := range want {
		if got := string(l[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if len(l) != len(want) {
		t.Errorf("extra keys: %v", keys(l))
	}
	if _, err := FromEnv(map[string]string{"K6_VUS": "many"}); err == nil {
		t.Error("K6_VUS=many accepted")
	}
	if _, err := FromEnv(map[string]string{"K6_STAGES": "10s"}); err != nil {
		t.Errorf("K6_STAGES=10s (target defaults to 0) rejected: %v", err)
	}
}

func TestParseTag(t *testing.T) {
	for _, tt := range []struct {
		in, k, v string
		ok       bool
	}{{"a=b", "a", "b", true}, {"a=b=c", "a", "b=c", true}, {"a=", "a", "", true}, {"=b", "", "", false}, {"ab", "", "", false}} {
		k, v, err := ParseTag(tt.in)
		if (err == nil) != tt.ok || k != tt.k || v != tt.v {
			t.Errorf("ParseTag(%q) = %q, %q, %v", tt.in, k, v, err)
		}
	}
}

// FuzzDecode checks that no options object makes Decode or the scenario
// derivation panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"vus":5,"duration":"10s"}`, `{"iterations":3}`, `{"stages":[{"duration":"1s","target":2}]}`,
		`{"scenarios":{"a":{"executor":"ramping-arrival-rate","stages":[{"duration":"1s","target":2}],"preAllocatedVUs":1}}}`,
		`{"tags":{"a":"b"},"thresholds":{"x":["p(95)<1"]}}`, `{"setupTimeout":1000}`, `null`, `{"duration":-5}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var l Layer
		if json.Unmarshal([]byte(s), &l) != nil {
			return
		}
		o, err := Decode(l)
		if err != nil {
			return
		}
		_, _ = o.ScenarioConfigs()
	})
}
