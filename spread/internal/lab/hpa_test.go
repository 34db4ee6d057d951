package lab

import (
	"os"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/hpa"
)

// The HPA on real cgroup CPU time: a pod burning a CPU under a 100m limit
// runs at about 100 % of its request against a 50 % target, so the formula
// asks for ceil(1 × 2) = 2 or 3 replicas at the first sync with metrics,
// and max caps every later one at 3.
func TestHPAScalesOnPodCPU(t *testing.T) {
	if v, why := cgroup.Version(); v == "" || !isRoot() {
		t.Skipf("HPA needs cgroups as root: %s", why)
	}
	labpod, _, _ := bins(t)
	res, _ := runPlan(t, ModeUserspace, 1, nil, `{"idle":[{"do":"sleep","every":"4s"}]}`, func(c *Config) {
		c.PodCommand = podTemplate(labpod) + " --burn"
		c.PodLimits = cgroup.Limits{MilliCPU: 100}
		c.HPA = &hpa.Spec{Min: 1, Max: 3, TargetCPU: 0.5, Sync: 700 * time.Millisecond, Tolerance: 0.1, Stabilization: time.Minute}
	})
	var hpaScaled bool
	for i, e := range res.Events {
		if e.Kind == "hpa" && i+1 < len(res.Events) && res.Events[i+1].Kind == "scale" && strings.HasPrefix(res.Events[i+1].Detail, "1 -> ") {
			hpaScaled = true
		}
		if strings.Contains(e.Detail, "-> 4") {
			t.Errorf("above max: %s", e.Detail)
		}
	}
	if !hpaScaled {
		t.Errorf("the HPA never scaled up from 1: %+v", res.Events)
	}
	if len(res.Pods) != 3 {
		t.Errorf("%d pods started, want 3 (max)", len(res.Pods))
	}
}

func isRoot() bool { return os.Geteuid() == 0 }
