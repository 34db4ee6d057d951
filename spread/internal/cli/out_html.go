package cli

import (
	"strings"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/output/dashboard"
)

// K6_WEB_DASHBOARD=true adds the dashboard as if --out web-dashboard was
// given, as k6 does; an explicit --out web-dashboard=... keeps its settings.
// htmlFlags are the flags this file adds to `spread run` (listed in run.go).
func htmlFlags() RunFlagHook {
	return RunFlagHook{Apply: func(_ *pflag.FlagSet, cfg *engine.Config) error {
		if !dashboard.Enabled(cfg.Env) {
			return nil
		}
		for _, o := range cfg.Outs {
			if o == "web-dashboard" || strings.HasPrefix(o, "web-dashboard=") {
				return nil
			}
		}
		cfg.Outs = append(cfg.Outs, "web-dashboard")
		return nil
	}}
}
