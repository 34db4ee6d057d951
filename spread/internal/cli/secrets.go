package cli

import (
	"os"

	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/modules/secrets"
)

// --secret-source: where k6/secrets reads (k6's flag and syntax).
// secretFlags are the flags this file adds to `spread run` (listed in run.go).
func secretFlags() RunFlagHook {
	var specs []string
	return RunFlagHook{
		Add: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&specs, "secret-source", nil,
				"a source for k6/secrets (repeatable): file=PATH (KEY=VALUE lines), env[=prefix=P] (environment variables), "+
					"mock=K=V[,K=V]; add ,name=N to name one and ,default to make it secrets.get's source")
		},
		Apply: func(_ *pflag.FlagSet, _ *engine.Config) error {
			var srcs []*secrets.Source
			for _, s := range specs {
				src, err := secrets.ParseSource(s, os.LookupEnv)
				if err != nil {
					return err
				}
				srcs = append(srcs, src)
			}
			set, err := secrets.NewSet(srcs)
			if err != nil {
				return err
			}
			secrets.Configure(set)
			js.SetRedactor(secrets.Redact)
			return nil
		},
	}
}
