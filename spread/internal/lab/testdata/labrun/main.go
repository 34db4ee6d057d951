// labrun runs lab.Run the way `spread lab` does (SIGINT/SIGTERM cancel the
// run), for the lab's cleanup tests. Usage: labrun SPREAD POD_TEMPLATE PLAN OUTDIR PROXY
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"spread.dev/spread/internal/lab"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: labrun SPREAD POD_TEMPLATE PLAN OUTDIR PROXY")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := lab.Run(ctx, lab.Config{
		Proxy: os.Args[5], Replicas: 2, Spread: os.Args[1], PodCommand: os.Args[2],
		Script: os.Args[3], OutDir: os.Args[4],
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "labrun:", err)
		os.Exit(1)
	}
	os.Exit(res.ExitCode)
}
