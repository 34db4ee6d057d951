package netns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (apt-get install iproute2)")
	}
}

func TestNewName(t *testing.T) {
	a, b := NewName(""), NewName("client")
	if !strings.HasPrefix(a, Prefix) || a == b || !strings.HasSuffix(b, "-client") {
		t.Errorf("names %q %q", a, b)
	}
	if _, err := Create(context.Background(), "not-ours"); err == nil {
		t.Error("Create accepted a name without the prefix")
	}
}

// TestDoListensInsideNamespace: a socket opened in Do lives in the
// namespace: reachable from a process inside it, not from the host.
func TestDoListensInsideNamespace(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ns, err := Create(ctx, NewName("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ns.Delete(); err != nil {
			t.Error(err)
		}
		if Exists(ns.Name) {
			t.Error("namespace survived Delete")
		}
	}()
	if _, err := ns.Output(ctx, "ip", "addr", "add", "10.123.0.1/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", "10.123.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("inside\n"))
			c.Close()
		}
	}()
	c, err := ns.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial inside: %v", err)
	}
	c.Close()
	if c, err := net.DialTimeout("tcp", l.Addr().String(), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("namespace socket reachable from the host namespace")
	}
	// A long-running process inside is killed by Delete.
	cmd := ns.Command(ctx, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(ns.Pids()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(ns.Pids()) == 0 {
		t.Fatal("sleep not seen in the namespace")
	}
}

func TestSweepRemovesOrphans(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	// A name whose owner pid cannot exist: an orphan.
	orphan := Prefix + "999999999-abcdef-test"
	if _, err := Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	mine, err := Create(ctx, NewName("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Delete()
	removed, err := Sweep(false)
	if err != nil {
		t.Fatal(err)
	}
	if Exists(orphan) {
		(&NS{Name: orphan}).Delete()
		t.Fatalf("orphan not removed (removed %v)", removed)
	}
	if !Exists(mine.Name) {
		t.Fatal("sweep removed a namespace of a live lab")
	}
}
