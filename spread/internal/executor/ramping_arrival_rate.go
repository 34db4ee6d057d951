package executor

import (
	"fmt"
	"time"
)

// rampingArrivalRate: the iteration start rate follows the stages.
type rampingArrivalRate struct{}

func (rampingArrivalRate) required() []string { return []string{"stages", "preAllocatedVUs"} }

func (rampingArrivalRate) defaults(c *Config, has func(string) bool) { arrivalDefaults(c, has) }

func (rampingArrivalRate) validate(c Config, v validator) error {
	if err := v.nonNeg("startRate", c.StartRate, maxRateLimit); err != nil {
		return err
	}
	if err := v.stages("rate"); err != nil {
		return err
	}
	return validateArrivalVUs(c, v)
}

func (rampingArrivalRate) length(c Config) time.Duration { return stagesLength(c) }

func (rampingArrivalRate) describe(c Config) (string, []string) {
	return fmt.Sprintf("Up to %.2f iterations/s for %s over %d stages", perSecond(c.maxTarget(), c.TimeUnit), Duration(stagesLength(c)), len(c.Stages)),
		[]string{fmt.Sprintf("maxVUs: %d-%d", c.PreAllocatedVUs, c.MaxVUs)}
}

func (rampingArrivalRate) shownZeros() map[string]bool { return map[string]bool{"startRate": true} }

func (rampingArrivalRate) plan(sc *scenario) { planArrival(sc) }

func (rampingArrivalRate) run(sc *scenario, ph *phases, pool Pool) { sc.runArrivalRate(ph, pool) }
