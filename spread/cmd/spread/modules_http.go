package main

// Like an xk6 build, spread links the extensions it ships.
import _ "spread.dev/spread/internal/modules/k6http"
