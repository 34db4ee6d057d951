package executor

import (
	"fmt"
	"time"
)

// sharedIterations: VUs share a fixed number of iterations.
type sharedIterations struct{}

func (sharedIterations) required() []string { return nil }

func (sharedIterations) defaults(c *Config, has func(string) bool) { iterationDefaults(c, has) }

func (sharedIterations) validate(c Config, v validator) error {
	if err := validateIterations(c, v); err != nil {
		return err
	}
	if c.Iterations < c.VUs {
		return v.fail("the number of iterations (%d) can't be less than the number of VUs (%d)", c.Iterations, c.VUs)
	}
	return nil
}

func (sharedIterations) length(c Config) time.Duration { return c.MaxDuration.D() }

func (sharedIterations) describe(c Config) (string, []string) {
	return fmt.Sprintf("%d iterations shared among %d VUs", c.Iterations, c.VUs), []string{"maxDuration: " + c.MaxDuration.String()}
}

func (sharedIterations) shownZeros() map[string]bool { return map[string]bool{"vus": true} }

func (sharedIterations) plan(sc *scenario) {
	// Iterations are dealt to the segments by VU, not by width: test-wide
	// iteration k belongs to the segment owning VU k mod vus. The shares
	// still sum exactly, and a segment gets iterations only if it has VUs
	// to run them (by width, one with no VU would leave a gap).
	c := sc.cfg
	sc.vus = sc.seg.Scale(c.VUs)
	sc.iters = (c.Iterations/c.VUs)*sc.vus + sc.seg.Scale(c.Iterations%c.VUs)
	sc.planVUs, sc.maxVUs = sc.vus, sc.vus
}

func (sharedIterations) run(sc *scenario, ph *phases, pool Pool) {
	sc.runLooping(ph, pool, func(slot, vuIter int64) (Iteration, bool) {
		local := sc.seq.Add(1) - 1
		if local >= sc.iters {
			return Iteration{}, false
		}
		inTest := (local/sc.vus)*sc.cfg.VUs + sc.seg.Global(local%sc.vus)
		return sc.iteration(vuIter, local, inTest), true
	})
}
