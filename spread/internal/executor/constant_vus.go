package executor

import (
	"fmt"
	"time"
)

// constantVUs: a fixed number of VUs loop for a duration.
type constantVUs struct{}

func (constantVUs) required() []string { return []string{"duration"} }

func (constantVUs) defaults(c *Config, has func(string) bool) {
	if !has("vus") {
		c.VUs = 1
	}
}

func (constantVUs) validate(c Config, v validator) error {
	if err := v.positive("vus", c.VUs, maxVUsLimit); err != nil {
		return err
	}
	return v.posDur("duration", c.Duration)
}

func (constantVUs) length(c Config) time.Duration { return c.Duration.D() }

func (constantVUs) describe(c Config) (string, []string) {
	return fmt.Sprintf("%d looping VUs for %s", c.VUs, c.Duration), nil
}

func (constantVUs) shownZeros() map[string]bool { return map[string]bool{"vus": true} }

func (constantVUs) plan(sc *scenario) {
	sc.vus = sc.seg.Scale(sc.cfg.VUs)
	sc.planVUs, sc.maxVUs = sc.vus, sc.vus
}

func (constantVUs) run(sc *scenario, ph *phases, pool Pool) {
	sc.runLooping(ph, pool, func(slot, vuIter int64) (Iteration, bool) {
		local := sc.seq.Add(1) - 1
		return sc.iteration(vuIter, local, sc.seg.Global(local)), true
	})
}
