package k6http

import (
	"os"
	"testing"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

// Integration tests build the real binaries from the workspace (so they
// pass from a clean checkout) once per test binary, with testbin.

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// binPackage is the command of each binary the tests run.
var binPackage = map[string]string{
	"echo-server": echotest.Package,
	"spread":      "spread.dev/spread/cmd/spread",
}

// buildBinary builds name (echo-server or spread) once per test binary.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not building %s", name)
	}
	return testbin.MustBuild(t, binPackage[name])
}

// startEcho starts echo-server's HTTP/1.1 and TLS listeners on loopback
// ports chosen by the kernel, with a certificate for 127.0.0.1 and
// localhost, and stops it at the end.
func startEcho(t *testing.T, pod string, args ...string) *echotest.Server {
	t.Helper()
	bin := buildBinary(t, "echo-server")
	return echotest.Start(t, echotest.Config{Bin: bin, Pod: pod, H3: echotest.Off, Args: args, ReadyTimeout: 30 * time.Second})
}
