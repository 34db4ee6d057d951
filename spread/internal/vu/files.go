package vu

// ReadFile reads a file of the test as open() does (relative to the
// script's folder, one cached copy for every VU, what archives record):
// ext.FileReader, for k6/experimental/fs and k6/experimental/csv.
func (v *VU) ReadFile(path string) (string, []byte, error) {
	b, err := v.sh.Files.Read(path)
	return v.sh.Files.Abs(path), b, err
}
