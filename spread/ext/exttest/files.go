package exttest

import (
	"os"
	"path/filepath"
)

// ReadFile implements ext.FileReader: paths relative to v.Dir (the
// working directory when empty).
func (v *VU) ReadFile(path string) (string, []byte, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(v.Dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	b, err := os.ReadFile(abs)
	return abs, b, err
}
