package executor

import (
	"fmt"
	"time"
)

// constantArrivalRate: iterations start at a fixed rate for a duration.
type constantArrivalRate struct{}

func (constantArrivalRate) required() []string {
	return []string{"rate", "duration", "preAllocatedVUs"}
}

func (constantArrivalRate) defaults(c *Config, has func(string) bool) { arrivalDefaults(c, has) }

// arrivalDefaults are the defaults of both arrival-rate executors.
func arrivalDefaults(c *Config, has func(string) bool) {
	if !has("timeUnit") {
		c.TimeUnit = DefaultTimeUnit
	}
	if !has("maxVUs") {
		c.MaxVUs = c.PreAllocatedVUs
	}
}

// validateArrivalVUs checks timeUnit and the VU pool of both arrival-rate
// executors.
func validateArrivalVUs(c Config, v validator) error {
	if err := v.posDur("timeUnit", c.TimeUnit); err != nil {
		return err
	}
	if err := v.nonNeg("preAllocatedVUs", c.PreAllocatedVUs, maxVUsLimit); err != nil {
		return err
	}
	if err := v.nonNeg("maxVUs", c.MaxVUs, maxVUsLimit); err != nil {
		return err
	}
	if c.MaxVUs < c.PreAllocatedVUs {
		return v.fail("maxVUs (%d) can't be less than preAllocatedVUs (%d)", c.MaxVUs, c.PreAllocatedVUs)
	}
	if c.MaxVUs == 0 {
		return v.fail("preAllocatedVUs or maxVUs must be more than 0")
	}
	return nil
}

func (constantArrivalRate) validate(c Config, v validator) error {
	if err := v.positive("rate", c.Rate, maxRateLimit); err != nil {
		return err
	}
	if err := v.posDur("duration", c.Duration); err != nil {
		return err
	}
	return validateArrivalVUs(c, v)
}

func (constantArrivalRate) length(c Config) time.Duration { return c.Duration.D() }

func (constantArrivalRate) describe(c Config) (string, []string) {
	return fmt.Sprintf("%.2f iterations/s for %s", perSecond(c.Rate, c.TimeUnit), c.Duration),
		[]string{fmt.Sprintf("maxVUs: %d-%d", c.PreAllocatedVUs, c.MaxVUs)}
}

func (constantArrivalRate) shownZeros() map[string]bool { return map[string]bool{} }

func (constantArrivalRate) plan(sc *scenario) { planArrival(sc) }

// planArrival sizes the VU pool of both arrival-rate executors.
func planArrival(sc *scenario) {
	c := sc.cfg
	sc.planVUs = sc.seg.Scale(c.PreAllocatedVUs)
	sc.maxVUs = max(sc.seg.Scale(c.MaxVUs), sc.planVUs)
	// A segment with a share of the iteration starts but no VU by
	// rounding would drop them all; give it one.
	if sc.maxVUs == 0 && c.MaxVUs > 0 {
		sc.maxVUs = 1
	}
}

func (constantArrivalRate) run(sc *scenario, ph *phases, pool Pool) { sc.runArrivalRate(ph, pool) }
