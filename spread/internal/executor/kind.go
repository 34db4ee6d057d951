package executor

import (
	"fmt"
	"time"
)

// kind is what one executor does differently from the others: each of
// k6's six executors is one type in its own file (constant_vus.go, ...)
// behind this interface, instead of switches over the executor's name.
type kind interface {
	// required are the options it has no default for.
	required() []string
	// defaults fills in the options not set (has says which are).
	defaults(c *Config, has func(string) bool)
	// validate checks its own options (the common ones are checked first).
	validate(c Config, v validator) error
	// length is its planned length without gracefulStop.
	length(c Config) time.Duration
	// describe is k6's one-line summary and the details in brackets.
	describe(c Config) (string, []string)
	// shownZeros are the options `spread inspect` shows even when 0.
	shownZeros() map[string]bool
	// plan sets the VU counts of this instance's segment.
	plan(sc *scenario)
	// run runs the scenario's iterations until its phases end.
	run(sc *scenario, ph *phases, pool Pool)
}

// kinds are the executors by name.
var kinds = map[string]kind{
	ConstantVUs:         constantVUs{},
	RampingVUs:          rampingVUs{},
	PerVUIterations:     perVUIterations{},
	SharedIterations:    sharedIterations{},
	ConstantArrivalRate: constantArrivalRate{},
	RampingArrivalRate:  rampingArrivalRate{},
}

// ShownZeros are the options of executor that `inspect` keeps when 0
// (e.g. ramping-vus' startVUs), so its output reads like a scenario a
// user would write.
func ShownZeros(executor string) map[string]bool {
	if k, ok := kinds[executor]; ok {
		return k.shownZeros()
	}
	return map[string]bool{"vus": true}
}

// validator holds the checks the kinds share, with errors naming the
// scenario.
type validator struct{ c Config }

func (v validator) fail(format string, a ...any) error {
	return fmt.Errorf("scenario %q: "+format, append([]any{v.c.Name}, a...)...)
}

func (v validator) positive(name string, val, limit int64) error {
	if val <= 0 {
		return v.fail("%s must be more than 0 (got %d)", name, val)
	}
	if val > limit {
		return v.fail("%s %d is too large (at most %d)", name, val, limit)
	}
	return nil
}

func (v validator) nonNeg(name string, val, limit int64) error {
	if val < 0 {
		return v.fail("%s must not be negative (got %d)", name, val)
	}
	if val > limit {
		return v.fail("%s %d is too large (at most %d)", name, val, limit)
	}
	return nil
}

func (v validator) posDur(name string, d Duration) error {
	if d <= 0 {
		return v.fail("%s must be more than 0 (got %s)", name, d)
	}
	if d > maxTimeLimit {
		return v.fail("%s %s is too long", name, d)
	}
	return nil
}

// stages checks the stages of a ramping executor; what is "VUs" or "rate".
func (v validator) stages(what string) error {
	c := v.c
	if len(c.Stages) == 0 {
		return v.fail("stages must have at least one stage")
	}
	if len(c.Stages) > maxStageCount {
		return v.fail("too many stages (%d)", len(c.Stages))
	}
	var total Duration
	for i, st := range c.Stages {
		if st.Duration < 0 || st.Duration > maxTimeLimit {
			return v.fail("stage %d: duration %s out of range", i, st.Duration)
		}
		if st.Target < 0 {
			return v.fail("stage %d: target %s must not be negative (got %d)", i, what, st.Target)
		}
		limit := int64(maxVUsLimit)
		if what == "rate" {
			limit = maxRateLimit
		}
		if st.Target > limit {
			return v.fail("stage %d: target %d is too large", i, st.Target)
		}
		total += st.Duration
		if total > maxTimeLimit {
			return v.fail("stages are too long in total")
		}
	}
	if total <= 0 {
		return v.fail("the total duration of the stages must be more than 0")
	}
	return nil
}

// stagesLength is the total duration of the stages.
func stagesLength(c Config) time.Duration {
	var t time.Duration
	for _, st := range c.Stages {
		t += st.Duration.D()
	}
	return t
}
