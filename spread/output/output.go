// Package output defines what a results output is (`--out NAME=ARG`) and
// keeps the registry of outputs by name: json, csv, prometheus-rw, html...
package output

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// Output receives every sample of a run.
type Output interface {
	// Description is shown at the start of the run ("json (out.json)").
	Description() string
	// Start is called once before the first sample.
	Start() error
	// AddSamples is called from the engine's sample loop; it must not block
	// for long (buffer and flush in the background).
	AddSamples(samples []ext.Sample)
	// Stop flushes and closes; called once, also on interrupt.
	Stop() error
}

// Params is what an output is built from.
type Params struct {
	Arg        string            // what follows "name=" in --out, may be ""
	Registry   *ext.Registry     // every metric of the run
	Env        map[string]string // process env plus -e values (K6_* settings)
	Stdout     io.Writer
	Stderr     io.Writer
	TestID     string    // a run identifier (e.g. for the prometheus-rw testid label)
	StartTime  time.Time // when the test starts
	ScriptPath string
}

// Factory builds an output.
type Factory func(Params) (Output, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an output available as --out name[=arg]; call from init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("output: " + name + " registered twice")
	}
	factories[name] = f
}

// New builds the output named in an --out value "name[=arg]".
func New(spec string, p Params) (Output, error) {
	name, arg := spec, ""
	for i := 0; i < len(spec); i++ {
		if spec[i] == '=' {
			name, arg = spec[:i], spec[i+1:]
			break
		}
	}
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown output %q (known: %v)", name, Names())
	}
	p.Arg = arg
	o, err := f(p)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	return o, nil
}

// Names lists the registered outputs.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
