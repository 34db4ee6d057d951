package vu

import (
	"context"
	"errors"
	"strings"
	"testing"

	"spread.dev/spread/internal/executor"
)

// TestTopLevelAwait: an ES module script may await at its top level (k6
// supports it in the init context): imports of k6 modules keep working,
// the exports are those of the awaited module, and positions in errors
// still point at the user's lines.
func TestTopLevelAwait(t *testing.T) {
	script := `import a from 'k6/x/async';
import { check } from 'k6';
import * as exec from 'k6/execution';
const v = await a.later(10, 21);
export const options = { vus: v };
export let seen = 0;
export default async function () {
  seen = v * 2;
  check(seen, { 'is 42': (x) => x === 42 });
  if (exec.vu.idInInstance !== 1) throw new Error('exec');
}
export function fails() {
  throw new Error('tla boom');
}
`
	m := &asyncMod{late: make(chan func(func() error), 1)}
	s := &sink{}
	sh := newShared(t, script, &probe{}, s)
	if !sh.Program.TopLevelAwait {
		t.Fatal("the program was not compiled for top-level await")
	}
	sh.Resolver.Builtins["k6/x/async"] = m
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := v.OptionsJSON()
	if err != nil || string(opts) != `{"vus":21}` {
		t.Fatalf("options %s, %v", opts, err)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.of("checks")); n != 1 || s.of("checks")[0].Value != 1 {
		t.Fatalf("checks %v", s.of("checks"))
	}
	err = v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: "fails"})
	var se *ScriptError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "tla boom") || !strings.Contains(se.Error(), "script.js:13:9") {
		t.Fatalf("want tla boom at script.js:13:9, got %v", err)
	}

	// A rejected top-level await fails the init context.
	sh = newShared(t, "await Promise.reject(new Error('init nope'));\nexport default function () {}\n", &probe{}, s)
	_, err = New(context.Background(), sh, hostFor(sh), 1, 1)
	if err == nil || !strings.Contains(err.Error(), "init nope") || !strings.Contains(err.Error(), "script.js:1:22") {
		t.Fatalf("want the init error at script.js:1:22, got %v", err)
	}
}
