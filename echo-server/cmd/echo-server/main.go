// Command echo-server is the pod under test: it answers GET / with its pod
// name after a delay, over HTTP/1.1, HTTP/2 and HTTP/3, and exposes
// Prometheus metrics. `echo-server certs` and `echo-server keys` make the
// TLS certificates and the shared QUIC keys it can use.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "certs":
			return runCerts(args[1:], stdout, stderr)
		case "keys":
			return runKeys(args[1:], stdout, stderr)
		case "serve":
			args = args[1:]
		}
	}
	return runServe(args, stdout, stderr)
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "echo-server:", err)
	return 1
}
