package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestLabCommandRejectsBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "exactly one SCRIPT"},
		{[]string{"a.js", "b.js"}, "exactly one SCRIPT"},
		{[]string{"--scale", "2", "a.js"}, "REPLICAS@TIME"},
		{[]string{"--kill", "@1s", "a.js"}, "POD@TIME"},
		{[]string{"--rolling-restart", "@soon", "a.js"}, "rolling-restart"},
		{[]string{"-e", "NOEQUALS", "a.js"}, "KEY=VALUE"},
		{[]string{"--proxy", "ipvs", "a.js"}, "unknown proxy"},
		{[]string{"--proxy", "userspace", "--nodeport", "a.js"}, "nodeport"},
	}
	for _, tt := range tests {
		cmd := newLabCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to mention %q", tt.args, err, tt.want)
		}
	}
}

func TestSplitLabArgs(t *testing.T) {
	cmd := newLabCommand()
	if err := cmd.ParseFlags([]string{"--replicas", "2", "s.js", "--", "-u", "10", "-d", "1m"}); err != nil {
		t.Fatal(err)
	}
	script, run, err := splitLabArgs(cmd, cmd.Flags().Args())
	if err != nil || script != "s.js" || strings.Join(run, " ") != "-u 10 -d 1m" {
		t.Errorf("got %q %q %v", script, run, err)
	}
}
