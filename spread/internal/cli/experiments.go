package cli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"spread.dev/spread/internal/experiments"
	"spread.dev/spread/internal/experiments/plan"
)

func newExperimentsCommand() *cobra.Command {
	var (
		planPath, outDir, proxy, spreadBin, echoBin string
		only                                        []string
		quick, full                                 bool
	)
	cmd := &cobra.Command{
		Use:   "experiments",
		Short: "Run the experiment plan in the lab and write results/ (summary.json, summary.md, report.html)",
		Long: `Runs every experiment of the plan (scripts/experiments.yaml) through the lab,
one after the other, and writes results: summary.json and summary.md (one row
per experiment: requests, req/s, latency, errors, per-pod counts, the share the
pods added at scale-up got, and whether that matches DESIGN.md's prediction),
report.html (charts of requests/s per pod over time, latency and errors), and
per experiment a folder with the raw samples, events and pod logs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch proxy {
			case "", "auto", "iptables", "nftables", "userspace":
			default:
				return fmt.Errorf("--proxy %q: want auto, iptables, nftables or userspace", proxy)
			}
			p, err := plan.Load(planPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			began := time.Now()
			sums, err := experiments.Run(ctx, experiments.Options{
				Plan: p, Only: splitList(only), OutDir: outDir, Proxy: proxy, Quick: quick, Full: full,
				Spread: spreadBin, EchoServer: echoBin, Progress: out,
				Command: "spread " + strings.Join(os.Args[1:], " "),
			})
			if len(sums) > 0 {
				fmt.Fprintf(out, "\n%s\n", experiments.Markdown(sums, ""))
				fmt.Fprintf(out, "%d experiments in %s; results in %s (report: %s)\n", len(sums),
					time.Since(began).Round(time.Second), outDir, filepath.Join(outDir, "report.html"))
			}
			if err != nil {
				return err
			}
			var failed []string
			for _, s := range sums {
				if s.Verdict == plan.VerdictFailed {
					failed = append(failed, s.Name)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("experiments failed to run: %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&planPath, "plan", "scripts/experiments.yaml", "the experiment plan")
	fs.StringSliceVar(&only, "only", nil, "run only these experiments (NAME,...)")
	fs.StringVar(&outDir, "out", "results", "results folder")
	fs.StringVar(&proxy, "proxy", "", "Service emulation, as spread lab's --proxy: auto|iptables|nftables|userspace (default: the plan's, normally auto)")
	fs.BoolVar(&full, "full", false, "also run the rows marked full: (the sweeps; prints the expected time first)")
	fs.BoolVar(&quick, "quick", false, "halve every duration and VU count (a smoke run)")
	fs.StringVar(&spreadBin, "spread", "", "spread binary the lab runs (default: this executable)")
	fs.StringVar(&echoBin, "echo-server", "", "echo-server binary (default: next to spread, then PATH)")
	return cmd
}

// splitList flattens "a,b" "c" into [a b c].
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
