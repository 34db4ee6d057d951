package executor

import (
	"fmt"
	"time"
)

// perVUIterations: each VU runs the same number of iterations.
type perVUIterations struct{}

func (perVUIterations) required() []string { return nil }

func (perVUIterations) defaults(c *Config, has func(string) bool) { iterationDefaults(c, has) }

// iterationDefaults are the defaults of both iteration executors.
func iterationDefaults(c *Config, has func(string) bool) {
	if !has("vus") {
		c.VUs = 1
	}
	if !has("iterations") {
		c.Iterations = 1
	}
	if !has("maxDuration") {
		c.MaxDuration = DefaultMaxDuration
	}
}

// validateIterations checks the options of both iteration executors.
func validateIterations(c Config, v validator) error {
	if err := v.positive("vus", c.VUs, maxVUsLimit); err != nil {
		return err
	}
	if err := v.positive("iterations", c.Iterations, maxIterLimit); err != nil {
		return err
	}
	return v.posDur("maxDuration", c.MaxDuration)
}

func (perVUIterations) validate(c Config, v validator) error {
	if err := validateIterations(c, v); err != nil {
		return err
	}
	if c.Iterations > maxIterLimit/c.VUs {
		return v.fail("vus x iterations (%d x %d) is too large", c.VUs, c.Iterations)
	}
	return nil
}

func (perVUIterations) length(c Config) time.Duration { return c.MaxDuration.D() }

func (perVUIterations) describe(c Config) (string, []string) {
	return fmt.Sprintf("%d iterations for each of %d VUs", c.Iterations, c.VUs), []string{"maxDuration: " + c.MaxDuration.String()}
}

func (perVUIterations) shownZeros() map[string]bool { return map[string]bool{"vus": true} }

func (perVUIterations) plan(sc *scenario) {
	sc.vus, sc.iters = sc.seg.Scale(sc.cfg.VUs), sc.cfg.Iterations
	sc.planVUs, sc.maxVUs = sc.vus, sc.vus
}

func (perVUIterations) run(sc *scenario, ph *phases, pool Pool) {
	sc.runLooping(ph, pool, func(slot, vuIter int64) (Iteration, bool) {
		if vuIter >= sc.iters {
			return Iteration{}, false
		}
		// Each VU of the test owns a block of `iterations` numbers.
		return sc.iteration(vuIter, sc.seq.Add(1)-1, sc.seg.Global(slot)*sc.iters+vuIter), true
	})
}
