// Command spread runs k6-style load scripts (spread run), the emulated
// Kubernetes Service lab (spread lab) and the experiment plan (spread
// experiments). Like an xk6 build, it links the extensions it ships.
package main

import (
	"errors"
	"fmt"
	"os"

	"spread.dev/spread/cli"
)

func main() {
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
