package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
)

// k6's HTTP flags of `k6 run`, each the CLI tier of the k6/http option of
// the same meaning (the module reads and checks them; see
// spread/internal/modules/k6http/README.md).
var httpFlags = []struct {
	flag, short, option, kind, usage string
}{
	{"batch", "", "batch", "int", "max parallel requests of one http.batch() (option batch, default 10)"},
	{"batch-per-host", "", "batchPerHost", "int", "max parallel http.batch() requests per host (option batchPerHost, default 6)"},
	{"discard-response-bodies", "", "discardResponseBodies", "bool", "read and discard response bodies (responseType none unless a request asks)"},
	{"dns", "", "dns", "string", `DNS resolution: "ttl=5m,select=random|first|roundRobin,policy=preferIPv4|preferIPv6|onlyIPv4|onlyIPv6|any" (spread also takes server=HOST:PORT)`},
	{"insecure-skip-tls-verify", "", "insecureSkipTLSVerify", "bool", "do not verify TLS certificates"},
	{"local-ips", "", "localIPs", "string", "source addresses given to the VUs in turn: IPs, FROM-TO ranges and CIDRs, comma-separated, e.g. 127.0.0.2-127.0.0.9"},
	{"max-redirects", "", "maxRedirects", "int", "redirects followed per request (option maxRedirects, default 10)"},
	{"no-connection-reuse", "", "noConnectionReuse", "bool", "no keep-alive: a new connection per request"},
	{"no-vu-connection-reuse", "", "noVUConnectionReuse", "bool", "close each VU's connections after every iteration"},
	{"throw", "w", "throw", "bool", "a failed HTTP request throws instead of returning an error response"},
	{"user-agent", "", "userAgent", "string", `User-Agent header ("" sends none)`},
}

// httpFlagHook are the flags this file adds to `spread run` (listed in run.go).
func httpFlagHook() RunFlagHook {
	return RunFlagHook{
		Add: func(fs *pflag.FlagSet) {
			for _, f := range httpFlags {
				switch f.kind {
				case "int":
					fs.IntP(f.flag, f.short, 0, f.usage)
				case "bool":
					fs.BoolP(f.flag, f.short, false, f.usage)
				default:
					fs.StringP(f.flag, f.short, "", f.usage)
				}
			}
		},
		Apply: func(fs *pflag.FlagSet, cfg *engine.Config) error {
			for _, f := range httpFlags {
				if !fs.Changed(f.flag) {
					continue
				}
				var v any
				switch f.kind {
				case "int":
					n, _ := fs.GetInt(f.flag)
					if n < 0 {
						return fmt.Errorf("--%s: must be 0 or more, got %d", f.flag, n)
					}
					v = n
				case "bool":
					v, _ = fs.GetBool(f.flag)
				default:
					v, _ = fs.GetString(f.flag)
				}
				if err := cfg.CLI.Set(f.option, v); err != nil {
					return fmt.Errorf("--%s: %w", f.flag, err)
				}
			}
			return nil
		},
	}
}
