package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flags must fail fast with the error said once and a short hint, not
// the whole usage; -h prints the usage and exits 0.
func TestBadFlagsSayTheErrorOnce(t *testing.T) {
	tests := []struct {
		args  []string
		code  int
		want  string
		usage bool
	}{
		{[]string{"--delay", "abc"}, 2, `invalid value "abc" for flag -delay`, false},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus", false},
		{[]string{"extra"}, 2, `unexpected argument "extra"`, false},
		{[]string{"--max-inflight", "-1"}, 2, "must not be negative", false},
		{[]string{"--certfile", "only.crt"}, 2, "", false},
		{[]string{"-h"}, 0, "Usage: echo-server", true},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		out := stderr.String()
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d\n%s", tt.args, code, tt.code, out)
		}
		if tt.want != "" && strings.Count(out, tt.want) != 1 {
			t.Errorf("%q: stderr should say %q once:\n%s", tt.args, tt.want, out)
		}
		if got := strings.Contains(out, "-insecure-bind string"); got != tt.usage {
			t.Errorf("%q: full flag list printed = %v, want %v:\n%s", tt.args, got, tt.usage, out)
		}
	}
}
