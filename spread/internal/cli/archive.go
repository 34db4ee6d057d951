package cli

import (
	"github.com/spf13/cobra"

	"spread.dev/spread/internal/engine"
)

func newArchiveCommand() *cobra.Command {
	f := &runFlags{}
	var out string
	cmd := &cobra.Command{
		Use:   "archive [flags] SCRIPT",
		Short: "Write the test (script, modules, open()ed files, remote modules, resolved options) to one tar",
		Long: "Write the test to one tar file, as k6 archive does: the script, every local and remote module it imports, " +
			"every file its init code open()s, and the options resolved from the script, K6_* environment and these flags. " +
			"`spread run archive.tar` runs it with no network and no source tree.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := engineConfig(cmd, f, args[0])
			if err != nil {
				return err
			}
			cfg.Stderr = cmd.ErrOrStderr()
			return engine.Archive(cmd.Context(), cfg, out)
		},
	}
	addOptionFlags(cmd.Flags(), f)
	cmd.Flags().StringVarP(&out, "archive-out", "O", "archive.tar", "the archive file to write")
	return cmd
}
