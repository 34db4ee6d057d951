// Package main must NOT build: it imports spread's engine internals from
// another module, which the Go compiler refuses (boundary_test.go checks).
package main

import _ "spread.dev/spread/internal/engine"

func main() {}
