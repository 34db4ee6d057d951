package csv

import "spread.dev/spread/output"

// The command registers the built-in outputs (cli.registerOutputs); this
// package's tests build them by name through the same registry.
func init() {
	output.Register("csv", New)
}
