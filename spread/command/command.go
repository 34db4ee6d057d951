// Package command is spread's command line as a library: Main runs the
// `spread` command with every built-in JS module (k6, k6/http, k6/ws,
// k6/net/grpc, ...) linked in. It is public so that a custom binary can be
// built with extra extension modules, as `spread build --with` does (the
// xk6 workflow):
//
//	package main
//
//	import (
//		"spread.dev/spread/command"
//
//		_ "example.com/xk6-mine" // registers k6/x/mine with ext.Register
//	)
//
//	func main() { command.Main("example.com/xk6-mine") }
//
// Everything else of the engine stays under spread/internal.
package command

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"spread.dev/spread/internal/cli"

	// The JS modules spread has built in (k6's standard library). They
	// are linked here, not in cmd/spread, so that every binary built on
	// this package (spread build) has them.
	_ "spread.dev/spread/internal/modules/crypto"
	_ "spread.dev/spread/internal/modules/csv"
	_ "spread.dev/spread/internal/modules/data"
	_ "spread.dev/spread/internal/modules/encoding"
	_ "spread.dev/spread/internal/modules/fs"
	_ "spread.dev/spread/internal/modules/html"
	_ "spread.dev/spread/internal/modules/k6grpc"
	_ "spread.dev/spread/internal/modules/k6http"
	_ "spread.dev/spread/internal/modules/k6websockets"
	_ "spread.dev/spread/internal/modules/k6ws"
	_ "spread.dev/spread/internal/modules/secrets"
)

// Main runs the spread command with os.Args and exits with its exit code
// (k6's codes). extensions are the Go module paths of the extension
// modules linked into this binary; `spread version` lists them with the
// versions the build used.
func Main(extensions ...string) {
	// A load generator's live heap is small (VU runtimes, histograms) but it
	// allocates per request; a higher GC target saves ~10 µs of CPU per
	// request (measured in docs/bench/k6http.md). GOGC still wins if set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cli.Extensions = extensions
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
