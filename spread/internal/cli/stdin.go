package cli

import (
	"fmt"
	"io"
	"os"
)

// stdinScript saves a script read from r (`spread run -`, as `k6 run -`)
// in the working directory, so that its relative imports and open() resolve
// from there as k6 resolves them; cleanup removes the file. Where the
// working directory is not writable it falls back to the temp directory.
func stdinScript(r io.Reader) (path string, cleanup func(), err error) {
	code, err := io.ReadAll(r)
	if err != nil {
		return "", nil, fmt.Errorf("script from stdin: %w", err)
	}
	if len(code) == 0 {
		return "", nil, fmt.Errorf("script from stdin: empty input")
	}
	f, err := os.CreateTemp(".", ".spread-stdin-*.js")
	if err != nil {
		f, err = os.CreateTemp("", "spread-stdin-*.js")
	}
	if err != nil {
		return "", nil, fmt.Errorf("script from stdin: %w", err)
	}
	remove := func() { os.Remove(f.Name()) }
	if _, err := f.Write(code); err != nil {
		f.Close()
		remove()
		return "", nil, fmt.Errorf("script from stdin: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return "", nil, fmt.Errorf("script from stdin: %w", err)
	}
	return f.Name(), remove, nil
}
