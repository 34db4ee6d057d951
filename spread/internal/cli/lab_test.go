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
		{[]string{"--kill", "nosuchpod@1s", "a.js"}, "no such pod can exist"},
		{[]string{"--replicas", "2", "--kill", "echo-server-3@1s", "a.js"}, "at most 2 pods"},
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

func TestLabKillTargetsPossible(t *testing.T) {
	// 2 pods, scale to 3 at 10s (echo-server-3), a rolling restart at 20s
	// (3 more: up to echo-server-6): echo-server-6 may be killed, 7 not.
	for pod, ok := range map[string]bool{"echo-server-6": true, "echo-server-7": false, "echo-server-0": false} {
		cmd := newLabCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--replicas", "2", "--scale", "3@10s", "--rolling-restart", "@20s", "--kill", pod + "@30s", "nonexistent-dir/a.js"})
		err := cmd.Execute()
		bad := err != nil && strings.Contains(err.Error(), "no such pod can exist")
		if bad == ok {
			t.Errorf("--kill %s: error %v, want accepted=%v", pod, err, ok)
		}
	}
}
