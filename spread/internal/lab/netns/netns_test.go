package netns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// TestOwnerAliveReusedPid: a namespace whose name carries the pid of a
// process started after the namespace was made (the lab's pid reused) is
// not kept by that process; one made after its owner started is.
func TestOwnerAliveReusedPid(t *testing.T) {
	requireRoot(t)
	orig := "polish-reuse-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", orig).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", orig).Run() })
	time.Sleep(3 * time.Second) // more than pidlife's slack
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	// The same namespace (same inode and time) under a lab name carrying
	// the later child's pid: what `ip netns` shows after a pid reuse.
	reused := Prefix + strconv.Itoa(child.Process.Pid) + "-reuse"
	path := "/run/netns/" + reused
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(path, syscall.MNT_DETACH); _ = os.Remove(path) })
	if err := syscall.Mount("/run/netns/"+orig, path, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	if ownerAlive(reused) {
		t.Error("a namespace made before its pid's process started is kept as alive (reused pid)")
	}
	// Made after the child started: the child owns it.
	fresh := Prefix + strconv.Itoa(child.Process.Pid) + "-fresh"
	if out, err := exec.Command("ip", "netns", "add", fresh).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", fresh).Run() })
	if !ownerAlive(fresh) {
		t.Error("a namespace made by a live process is not kept")
	}
}
