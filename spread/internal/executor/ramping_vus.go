package executor

import (
	"fmt"
	"time"
)

// rampingVUs: the number of looping VUs follows the stages.
type rampingVUs struct{}

func (rampingVUs) required() []string { return []string{"stages"} }

func (rampingVUs) defaults(c *Config, has func(string) bool) {
	if !has("startVUs") {
		c.StartVUs = 1
	}
	if !has("gracefulRampDown") {
		c.GracefulRampDown = DefaultGracefulRampDown
	}
}

func (rampingVUs) validate(c Config, v validator) error {
	if err := v.nonNeg("startVUs", c.StartVUs, maxVUsLimit); err != nil {
		return err
	}
	if err := v.stages("VUs"); err != nil {
		return err
	}
	if c.maxTarget() == 0 {
		return v.fail("startVUs and every stage target are 0: the scenario would never run a VU")
	}
	return nil
}

func (rampingVUs) length(c Config) time.Duration { return stagesLength(c) }

func (rampingVUs) describe(c Config) (string, []string) {
	return fmt.Sprintf("Up to %d looping VUs for %s over %d stages", c.maxTarget(), Duration(stagesLength(c)), len(c.Stages)),
		[]string{"gracefulRampDown: " + c.GracefulRampDown.String()}
}

func (rampingVUs) shownZeros() map[string]bool { return map[string]bool{"startVUs": true} }

func (rampingVUs) plan(sc *scenario) {
	sc.vus = sc.seg.Scale(sc.cfg.maxTarget())
	sc.planVUs, sc.maxVUs = sc.vus, sc.vus
}

func (rampingVUs) run(sc *scenario, ph *phases, pool Pool) { sc.runRampingVUs(ph, pool) }
