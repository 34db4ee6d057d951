package k6http

import (
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"

	"spread.dev/spread/ext"
)

func TestLoadConfig(t *testing.T) {
	noenv := func(string) string { return "" }
	opts := func(m map[string]any) ext.Options {
		o := ext.Options{}
		for k, v := range m {
			b, _ := json.Marshal(v)
			o[k] = b
		}
		return o
	}
	cases := []struct {
		name  string
		opts  map[string]any
		check func(*config) bool
		err   string
	}{
		{"defaults", nil, func(c *config) bool {
			return c.Batch == 10 && c.BatchPerHost == 6 && c.MaxRedirects == 10 && !c.NoConnectionReuse && c.RootCAs == nil &&
				len(c.PodFrom) == 2 && c.PodFrom[0].Header == "X-Served-By" && c.PodFrom[1].JSON == "hostname"
		}, ""},
		{"k6 options", map[string]any{"batch": 3, "batchPerHost": 1, "maxRedirects": 0, "noConnectionReuse": true,
			"noVUConnectionReuse": true, "discardResponseBodies": true, "insecureSkipTLSVerify": true, "throw": true, "userAgent": ""},
			func(c *config) bool {
				return c.Batch == 3 && c.BatchPerHost == 1 && c.MaxRedirects == 0 && c.NoConnectionReuse && c.NoVUConnectionReuse &&
					c.DiscardResponseBodies && c.InsecureSkipTLSVerify && c.Throw && c.UserAgent != nil && *c.UserAgent == ""
			}, ""},
		{"tls string", map[string]any{"tlsVersion": "tls1.3"}, func(c *config) bool {
			return c.TLSMin == tls.VersionTLS13 && c.TLSMax == tls.VersionTLS13
		}, ""},
		{"tls range", map[string]any{"tlsVersion": map[string]string{"min": "tls1.2"}}, func(c *config) bool {
			return c.TLSMin == tls.VersionTLS12 && c.TLSMax == 0
		}, ""},
		{"tls bad", map[string]any{"tlsVersion": "tls9"}, nil, "unknown version"},
		{"tls inverted", map[string]any{"tlsVersion": map[string]string{"min": "tls1.3", "max": "tls1.2"}}, nil, "above max"},
		{"podFrom", map[string]any{"podFrom": "json:pod"}, func(c *config) bool { return len(c.PodFrom) == 1 && c.PodFrom[0].JSON == "pod" }, ""},
		{"podFrom bad", map[string]any{"podFrom": "cookie:x"}, nil, "podFrom"},
		{"ca missing", map[string]any{"tlsCACerts": "/nonexistent.pem"}, nil, "tlsCACerts"},
		{"ca not pem", map[string]any{"tlsCACerts": "-----BEGIN nothing"}, nil, "no PEM certificate"},
		{"negative batch", map[string]any{"batch": -1}, nil, ">= 0"},
		{"hosts", map[string]any{"hosts": map[string]string{"svc": "127.0.0.1", "other": "127.0.0.2:81"}}, func(c *config) bool {
			return c.resolveHost("svc:80") == "127.0.0.1:80" && c.resolveHost("other:80") == "127.0.0.2:81" && c.resolveHost("x:1") == "x:1"
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(opts(c.opts), noenv)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("config: %+v", cfg)
			}
		})
	}
}
