package main

// Like an xk6 build, spread links the extensions it ships.
import _ "spread.dev/xk6-http3"
