package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spread.dev/spread/internal/engine"
)

func TestRunCommandRejectsBadDisplayFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml", "a.js"}, "--log-format"},
		{[]string{"--progress", "bars", "a.js"}, "--progress"},
	}
	for _, tt := range tests {
		cmd := newRunCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		var ee *engine.ExitError
		if !errors.As(err, &ee) || ee.Code != engine.ExitInvalidConfig || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want exit %d mentioning %q", tt.args, err, engine.ExitInvalidConfig, tt.want)
		}
	}
}

func TestCheckDisplayFlagsAcceptsKnownValues(t *testing.T) {
	for _, lf := range []string{"", "logfmt", "json"} {
		for _, p := range []string{"", "auto", "lines", "none"} {
			if err := checkDisplayFlags(&runFlags{logFormat: lf, progress: p}); err != nil {
				t.Errorf("log-format %q progress %q: %v", lf, p, err)
			}
		}
	}
}

func TestStdinScriptIsSavedAndRemoved(t *testing.T) {
	t.Chdir(t.TempDir())
	path, cleanup, err := stdinScript(strings.NewReader("export default function () {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "export default function () {}\n" {
		t.Fatalf("saved script %q, %v", b, err)
	}
	if filepath.Dir(path) != "." {
		t.Errorf("script saved in %s, want the working directory so relative imports resolve", path)
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("script left behind: %v", err)
	}
	if _, _, err := stdinScript(strings.NewReader("")); err == nil {
		t.Error("empty stdin accepted")
	}
}

// TestHelpListsOutputsAndProxies: `run --help` names every built-in
// output, `experiments --help` every --proxy mode the lab has.
func TestHelpListsOutputsAndProxies(t *testing.T) {
	help := func(cmd interface {
		SetOut(io.Writer)
		SetErr(io.Writer)
		SetArgs([]string)
		Execute() error
	}) string {
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--help"})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	run := help(newRunCommand())
	for _, o := range builtinOutputs {
		if !strings.Contains(run, o.name) {
			t.Errorf("run --help does not list output %q", o.name)
		}
	}
	for _, f := range []string{"--no-thresholds", "--no-setup", "--no-teardown", "--summary-trend-stats", "--config", "--linger", "K6_OUT"} {
		if !strings.Contains(run, f) {
			t.Errorf("run --help lacks %s", f)
		}
	}
	exps := help(newExperimentsCommand())
	for _, p := range []string{"auto", "iptables", "nftables", "userspace"} {
		if !strings.Contains(exps, p) {
			t.Errorf("experiments --help does not list --proxy %s", p)
		}
	}
}
