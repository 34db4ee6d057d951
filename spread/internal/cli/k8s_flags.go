package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/k8sscale"
)

// Flags for runs on Kubernetes: --k8s-scale, and --execution-segment-count
// / --execution-segment-index for the pods of an Indexed Job.
// k8sFlags are the flags this file adds to `spread run` (listed in run.go).
func k8sFlags() RunFlagHook {
	return RunFlagHook{
		Add: func(fs *pflag.FlagSet) {
			fs.StringArray("k8s-scale", nil, "scale a Kubernetes workload during the test: [NAMESPACE/]deployment/NAME=REPLICAS@TIME, e.g. deployment/echo-server=2@2m (repeatable; in-cluster or kubeconfig credentials)")
			fs.Int("execution-segment-count", 0, "run one of N equal execution segments (with --execution-segment-index)")
			fs.Int("execution-segment-index", 0, "which of the --execution-segment-count segments to run (default $JOB_COMPLETION_INDEX)")
		},
		Apply: applyK8sFlags,
	}
}

// --k8s-scale runs as an extra output of the run (k8sscale.Output, not one
// --out can name): the run tells it when the test starts and ends.

func applyK8sFlags(fs *pflag.FlagSet, cfg *engine.Config) error {
	if fs.Changed("execution-segment-count") {
		if fs.Changed("execution-segment") {
			return fmt.Errorf("--execution-segment-count and --execution-segment cannot be used together")
		}
		n, _ := fs.GetInt("execution-segment-count")
		i, _ := fs.GetInt("execution-segment-index")
		if !fs.Changed("execution-segment-index") {
			v, ok := cfg.Env["JOB_COMPLETION_INDEX"]
			if !ok {
				return fmt.Errorf("--execution-segment-count %d: give --execution-segment-index or run in an Indexed Job ($JOB_COMPLETION_INDEX is unset)", n)
			}
			var err error
			if i, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("JOB_COMPLETION_INDEX=%q: not a number", v)
			}
		}
		seg, err := k8sscale.SegmentFor(i, n)
		if err != nil {
			return err
		}
		if err := cfg.CLI.Set("executionSegment", seg); err != nil {
			return fmt.Errorf("--execution-segment-count: %w", err)
		}
	} else if fs.Changed("execution-segment-index") {
		return fmt.Errorf("--execution-segment-index needs --execution-segment-count")
	}

	specs, _ := fs.GetStringArray("k8s-scale")
	if len(specs) == 0 {
		return nil
	}
	if _, err := k8sscale.ParseSteps(specs); err != nil {
		return err
	}
	if idx := strings.TrimSpace(cfg.Env["JOB_COMPLETION_INDEX"]); idx != "" && idx != "0" {
		// The pods of an Indexed Job run one test together: one scales.
		fmt.Fprintf(stderrOf(cfg), "k8s-scale: skipped on JOB_COMPLETION_INDEX=%s (only index 0 scales)\n", idx)
		return nil
	}
	cfg.Extra = append(cfg.Extra, engine.ExtraOutput{Arg: strings.Join(specs, ","), New: k8sscale.NewOutput})
	return nil
}

func stderrOf(cfg *engine.Config) io.Writer {
	if cfg.Stderr != nil {
		return cfg.Stderr
	}
	return io.Discard
}
