package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"spread.dev/spread/internal/engine"
)

func newInspectCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "inspect [flags] SCRIPT",
		Short: "Print the script's resolved options (script, K6_* env and flags) as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := engineConfig(cmd, f, args[0])
			if err != nil {
				return err
			}
			out, err := engine.Inspect(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				return fmt.Errorf("inspect: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return err
		},
	}
	addOptionFlags(cmd.Flags(), f)
	return cmd
}
