package cli

import (
	"sync"

	"spread.dev/spread/internal/output/csv"
	"spread.dev/spread/internal/output/dashboard"
	"spread.dev/spread/internal/output/influxdb"
	"spread.dev/spread/internal/output/json"
	"spread.dev/spread/internal/output/opentelemetry"
	"spread.dev/spread/internal/output/prometheusrw"
	"spread.dev/spread/output"
)

// builtinOutputs are the --out names spread ships, with k6's names and
// their experimental- aliases: the one list of them (extension outputs
// register themselves from init, as extension modules do).
var builtinOutputs = []struct {
	name string
	new  output.Factory
}{
	{"json", json.New},
	{"csv", csv.New},
	{"web-dashboard", dashboard.New},
	{"html", dashboard.NewHTML},
	{"prometheus-rw", prometheusrw.New},
	{"experimental-prometheus-rw", prometheusrw.New},
	{"influxdb", influxdb.New},
	{"opentelemetry", opentelemetry.New},
	{"experimental-opentelemetry", opentelemetry.New},
}

var registerOnce sync.Once

// registerOutputs adds the built-in outputs to the output registry, once
// per process (NewRoot may be called more than once, e.g. by tests).
func registerOutputs() {
	registerOnce.Do(func() {
		for _, o := range builtinOutputs {
			output.Register(o.name, o.new)
		}
	})
}
