package ext

// FileReader is implemented by the engine's VUs (and exttest's): it
// reads a file of the test the way open() does — relative to the
// script's folder, one cached copy shared by every VU, recorded for
// archives — so modules that read files (k6/experimental/fs,
// k6/experimental/csv) follow open()'s rules. Assert it on an ext.VU.
// The returned bytes are shared: never modify them.
type FileReader interface {
	ReadFile(path string) (abs string, data []byte, err error)
}
