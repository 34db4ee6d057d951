// Command spread runs k6-style load scripts (spread run), the emulated
// Kubernetes Service lab (spread lab) and the experiment plan (spread
// experiments). Like an xk6 build, it links the extensions it ships.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"spread.dev/spread/internal/cli"
)

func main() {
	// A load generator's live heap is small (VU runtimes, histograms) but it
	// allocates per request; a higher GC target saves ~10 µs of CPU per
	// request (measured in docs/bench/k6http.md). GOGC still wins if set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	err := cli.NewRoot().Execute()
	if err == nil {
		return
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "spread:", msg)
		}
		os.Exit(coded.ExitCode())
	}
	fmt.Fprintln(os.Stderr, "spread:", err)
	os.Exit(1)
}
