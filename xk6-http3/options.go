package http3

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"spread.dev/spread/ext/httpkit"
	"spread.dev/xk6-http3/client"
)

// clientConfig is a parsed `new http3.Client({...})` argument.
type clientConfig struct {
	opts    client.Options
	podFrom []httpkit.PodSource
	tags    map[string]string
}

// optionParsers lists every client option the JS constructor accepts.
var optionParsers = map[string]func(cfg *clientConfig, v any) error{
	"mode": func(cfg *clientConfig, v any) error {
		s, err := asString(v)
		cfg.opts.Mode = client.Mode(s)
		return err
	},
	"socket": func(cfg *clientConfig, v any) error {
		s, err := asString(v)
		cfg.opts.Socket = client.Socket(s)
		return err
	},
	"connections": func(cfg *clientConfig, v any) error {
		n, err := asInt(v)
		if err == nil && n < 1 {
			err = fmt.Errorf("must be at least 1, got %d", n)
		}
		cfg.opts.Connections = n
		return err
	},
	"maxRequestsPerConnection": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.MaxRequestsPerConnection, err = asInt(v)
		return err
	},
	"maxConnectionAge": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.MaxConnectionAge, err = asDuration(v)
		return err
	},
	"zeroRTT": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.ZeroRTT, err = asBool(v)
		return err
	},
	"caCerts": func(cfg *clientConfig, v any) error {
		s, err := asString(v)
		if err != nil {
			return err
		}
		if strings.Contains(s, "-----BEGIN") {
			cfg.opts.CACerts = []byte(s)
			return nil
		}
		b, err := os.ReadFile(s)
		if err != nil {
			return fmt.Errorf("read PEM file: %w", err)
		}
		cfg.opts.CACerts = b
		return nil
	},
	"insecureSkipTLSVerify": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.InsecureSkipTLSVerify, err = asBool(v)
		return err
	},
	"serverName": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.ServerName, err = asString(v)
		return err
	},
	"handshakeTimeout": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.HandshakeTimeout, err = asDuration(v)
		return err
	},
	"idleTimeout": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.IdleTimeout, err = asDuration(v)
		return err
	},
	"keepAlivePeriod": func(cfg *clientConfig, v any) error {
		if b, ok := v.(bool); ok && !b {
			cfg.opts.KeepAlivePeriod = -1
			return nil
		}
		d, err := asDuration(v)
		cfg.opts.KeepAlivePeriod = d
		if err == nil && d == 0 {
			cfg.opts.KeepAlivePeriod = -1 // 0 in a script means "off"
		}
		return err
	},
	"timeout": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.Timeout, err = asDuration(v)
		return err
	},
	"maxRetries": func(cfg *clientConfig, v any) error {
		n, err := asInt(v)
		if n == 0 {
			n = -1 // 0 in a script means "no retries"
		}
		cfg.opts.MaxRetries = n
		return err
	},
	"qlogDir": func(cfg *clientConfig, v any) (err error) {
		cfg.opts.QlogDir, err = asString(v)
		return err
	},
	"podFrom": func(cfg *clientConfig, v any) error {
		s, err := asString(v)
		if err != nil {
			return err
		}
		cfg.podFrom, err = httpkit.ParsePodFrom(s)
		return err
	},
	"tags": func(cfg *clientConfig, v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object of tag names to strings, got %T", v)
		}
		cfg.tags = map[string]string{}
		for k, x := range m {
			cfg.tags[k] = fmt.Sprint(x)
		}
		return nil
	},
}

// optionNames lists the accepted options, for error messages.
func optionNames() string {
	names := make([]string, 0, len(optionParsers))
	for k := range optionParsers {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseClientConfig turns the constructor's argument into a config,
// rejecting unknown keys (a typo must not silently change the policy).
// insecure is the run-wide insecureSkipTLSVerify option, the default.
func parseClientConfig(raw map[string]any, insecure bool) (*clientConfig, error) {
	cfg := &clientConfig{}
	cfg.opts.InsecureSkipTLSVerify = insecure
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the first bad option deterministically
	for _, k := range keys {
		parse, ok := optionParsers[k]
		if !ok {
			return nil, fmt.Errorf("unknown option %q (known: %s)", k, optionNames())
		}
		v := raw[k]
		if v == nil {
			continue
		}
		if err := parse(cfg, v); err != nil {
			return nil, fmt.Errorf("option %s: %w", k, err)
		}
	}
	if cfg.podFrom == nil {
		if _, set := raw["podFrom"]; !set {
			cfg.podFrom, _ = httpkit.ParsePodFrom("")
		}
	}
	if _, err := client.New(cfg.opts); err != nil { // validate the combination now
		return nil, err
	}
	return cfg, nil
}

func asString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

func asBool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("want true or false, got %T", v)
	}
	return b, nil
}

func asInt(v any) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case int:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int(x), nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// asDuration accepts k6's forms: a Go duration string ("1m30s", "500ms")
// or a number of milliseconds.
func asDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (want e.g. \"500ms\", \"30s\", \"1m\")", x)
		}
		if d < 0 {
			return 0, fmt.Errorf("duration %q is negative", x)
		}
		return d, nil
	case int64, int, float64:
		f := toFloat(x)
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("bad duration %v", x)
		}
		return time.Duration(f * float64(time.Millisecond)), nil
	}
	return 0, fmt.Errorf("want a duration string or milliseconds, got %T", v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}
