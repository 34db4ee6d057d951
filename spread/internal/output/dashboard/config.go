package dashboard

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the dashboard's settings, named as k6's web dashboard names
// them (K6_WEB_DASHBOARD_*).
type Config struct {
	Host   string        // K6_WEB_DASHBOARD_HOST, default 127.0.0.1
	Port   int           // K6_WEB_DASHBOARD_PORT, default 5665; 0 = a free port; -1 = no server
	Period time.Duration // K6_WEB_DASHBOARD_PERIOD, default 2s (k6's is 10s)
	Open   bool          // K6_WEB_DASHBOARD_OPEN: open a browser on the page
	Export string        // K6_WEB_DASHBOARD_EXPORT: write the HTML report here at the end
}

// DefaultPeriod is how often the page updates. k6 uses 10s; spread's runs
// are short (a scale-up at 10-30 s) and a 10 s step would hide the moment
// a pod joins, so the default here is 2s.
const DefaultPeriod = 2 * time.Second

// defaultConfig is k6's defaults, except the period (see DefaultPeriod).
func defaultConfig() Config {
	return Config{Host: "127.0.0.1", Port: 5665, Period: DefaultPeriod}
}

// parseConfig reads K6_WEB_DASHBOARD_* from env, then the --out argument
// (`web-dashboard=port=0&period=1s&export=report.html`, k6's form; commas
// work too), which wins over env as k6's does.
func parseConfig(env map[string]string, arg string) (Config, error) {
	c := defaultConfig()
	set := func(key, val, from string) error {
		var err error
		switch key {
		case "host":
			c.Host = val
		case "port":
			c.Port, err = strconv.Atoi(val)
			if err == nil && (c.Port < -1 || c.Port > 65535) {
				err = fmt.Errorf("out of range")
			}
		case "period":
			c.Period, err = time.ParseDuration(val)
			if err == nil && c.Period < 100*time.Millisecond {
				err = fmt.Errorf("must be at least 100ms")
			}
		case "open":
			c.Open, err = strconv.ParseBool(val)
		case "export":
			c.Export = val
		default:
			return fmt.Errorf("%s: unknown setting %q (known: host, port, period, open, export)", from, key)
		}
		if err != nil {
			return fmt.Errorf("%s: %s=%q: %v", from, key, val, err)
		}
		return nil
	}
	for _, key := range []string{"host", "port", "period", "open", "export"} {
		name := "K6_WEB_DASHBOARD_" + strings.ToUpper(key)
		if v, ok := env[name]; ok && v != "" {
			if err := set(key, v, name); err != nil {
				return c, err
			}
		}
	}
	if arg != "" {
		for _, part := range strings.FieldsFunc(arg, func(r rune) bool { return r == '&' || r == ',' }) {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return c, fmt.Errorf("web-dashboard=%s: %q: want key=value", arg, part)
			}
			if err := set(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v), "web-dashboard"); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// Enabled says whether K6_WEB_DASHBOARD asks for the dashboard (k6's
// switch: the output is added as if --out web-dashboard was given).
func Enabled(env map[string]string) bool {
	v, err := strconv.ParseBool(env["K6_WEB_DASHBOARD"])
	return err == nil && v
}
