// Command spread runs k6-style load scripts (spread run), the emulated
// Kubernetes Service lab (spread lab) and the experiment plan (spread
// experiments). Like an xk6 build, it links the extensions it ships:
// k6/x/http3 (module spread.dev/xk6-http3). `spread build --with` makes a
// binary like this one with more extensions.
package main

import (
	"spread.dev/spread/command"

	_ "spread.dev/xk6-http3"
)

func main() { command.Main("spread.dev/xk6-http3") }
