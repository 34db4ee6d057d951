package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/options"
)

func TestK8sFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		segment string // want executionSegment ("" = unset)
		out     string // want an extra output with this argument ("" = none)
		err     string
		log     string
	}{
		{"index flag", []string{"--execution-segment-count=4", "--execution-segment-index=1"}, nil, `"1/4:2/4"`, "", "", ""},
		{"index from the Indexed Job", []string{"--execution-segment-count=4"}, map[string]string{"JOB_COMPLETION_INDEX": "3"}, `"3/4:1"`, "", "", ""},
		{"no index", []string{"--execution-segment-count=2"}, nil, "", "", "JOB_COMPLETION_INDEX is unset", ""},
		{"index out of range", []string{"--execution-segment-count=2", "--execution-segment-index=2"}, nil, "", "", "want 0..1", ""},
		{"both segment flags", []string{"--execution-segment-count=2", "--execution-segment=0:1/2"}, nil, "", "", "cannot be used together", ""},
		{"index alone", []string{"--execution-segment-index=1"}, nil, "", "", "needs --execution-segment-count", ""},
		{"scale", []string{"--k8s-scale=deployment/echo-server=2@2m", "--k8s-scale=deployment/echo-server=1@4m"}, nil, "", "deployment/echo-server=2@2m,deployment/echo-server=1@4m", "", ""},
		{"scale on index 0", []string{"--k8s-scale=deployment/echo-server=2@2m"}, map[string]string{"JOB_COMPLETION_INDEX": "0"}, "", "deployment/echo-server=2@2m", "", ""},
		{"scale skipped on index 2", []string{"--k8s-scale=deployment/echo-server=2@2m"}, map[string]string{"JOB_COMPLETION_INDEX": "2"}, "", "", "", "only index 0 scales"},
		{"bad scale", []string{"--k8s-scale=deployment/echo-server=2"}, nil, "", "", "no '@TIME'", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			f := &runFlags{}
			addOptionFlags(fs, f)
			for _, h := range runFlagHooks {
				if h.Add != nil {
					h.Add(fs)
				}
			}
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			env := tc.env
			if env == nil {
				env = map[string]string{}
			}
			cfg := &engine.Config{CLI: options.Layer{}, Env: env, Stderr: &stderr}
			err := applyK8sFlags(fs, cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(cfg.CLI["executionSegment"]); got != tc.segment {
				t.Errorf("executionSegment %s, want %s", got, tc.segment)
			}
			var args []string
			for _, x := range cfg.Extra {
				args = append(args, x.Arg)
			}
			if len(cfg.Outs) > 0 {
				t.Errorf("--k8s-flags added --out values %v", cfg.Outs)
			}
			got := strings.Join(args, " ")
			if got != tc.out {
				t.Errorf("outs %q, want %q", got, tc.out)
			}
			if !strings.Contains(stderr.String(), tc.log) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.log)
			}
		})
	}
}
