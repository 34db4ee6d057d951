// Package netns creates, uses and removes the named network namespaces the
// lab runs in (`ip netns`), and opens sockets inside them from Go.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"spread.dev/spread/internal/lab/pidlife"
)

// Prefix starts the name of every namespace the lab creates, so a sweep
// (`spread lab --cleanup`) can find leftovers and never touches others.
const Prefix = "spread-lab-"

// NS is one named network namespace (/run/netns/Name).
type NS struct{ Name string }

// NewName returns a unique namespace name: Prefix, our pid, random hex, role.
func NewName(role string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := Prefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
	if role != "" {
		name += "-" + role
	}
	return name
}

// Create makes the namespace and brings its loopback up.
func Create(ctx context.Context, name string) (*NS, error) {
	if !strings.HasPrefix(name, Prefix) {
		return nil, fmt.Errorf("netns: name %q lacks prefix %q", name, Prefix)
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netns: add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	n := &NS{Name: name}
	if _, err := n.Output(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		_ = n.Delete()
		return nil, err
	}
	return n, nil
}

// Command returns cmd running argv inside the namespace (`ip netns exec`).
func (n *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Wrap prefixes argv so it runs inside the namespace.
func (n *NS) Wrap(argv []string) []string {
	return append([]string{"ip", "netns", "exec", n.Name}, argv...)
}

// Output runs argv inside the namespace and returns its stdout; the error
// carries stderr.
func (n *NS) Output(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := n.Command(ctx, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("netns %s: %s: %v: %s", n.Name, strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Input runs argv inside the namespace with stdin (e.g. iptables-restore).
func (n *NS) Input(ctx context.Context, stdin string, argv ...string) error {
	cmd := n.Command(ctx, argv...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns %s: %s: %v: %s", n.Name, strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// IP runs `ip` commands (one per line, without the leading "ip") against
// the namespace in one process (`ip -n NAME -batch -`): setting up a pod's
// link takes a handful of steps and one fork is cheaper than six.
func (n *NS) IP(ctx context.Context, lines ...string) error {
	cmd := exec.CommandContext(ctx, "ip", "-n", n.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns %s: ip -batch %q: %v: %s", n.Name, lines, err, bytes.TrimSpace(out))
	}
	return nil
}

// Do runs fn on an OS thread switched into the namespace. Sockets created by
// fn stay in the namespace after the thread switches back, so fn may dial or
// listen and hand the socket to other goroutines.
func (n *NS) Do(fn func() error) error {
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", n.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine owns the locked thread: if switching back fails the
	// thread is discarded with the goroutine instead of serving others.
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: own namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: enter %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: leave %s: %w (fn: %v)", n.Name, err, ferr)
			return // thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContext dials addr from inside the namespace (for probes and scrapes).
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Pids lists the processes living in the namespace.
func (n *NS) Pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// Delete kills whatever still runs inside the namespace and removes it.
// Deleting the namespace also drops its interfaces, rules and conntrack.
func (n *NS) Delete() error {
	for i := 0; i < 20; i++ {
		pids := n.Pids()
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		if !Exists(n.Name) {
			return nil
		}
		return fmt.Errorf("netns: del %s: %v: %s", n.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// List returns the names of existing namespaces starting with Prefix.
func List() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("netns: list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], Prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// Exists reports whether a namespace of that name exists.
func Exists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// Sweep removes leftover lab namespaces (and their processes) whose creating
// spread process is gone; with all set it removes every lab namespace.
func Sweep(all bool) ([]string, error) {
	names, err := List()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []string
	for _, name := range names {
		if !all && ownerAlive(name) {
			continue
		}
		if err := (&NS{Name: name}).Delete(); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, name)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("netns: sweep: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// ownerAlive reads the pid embedded in a lab namespace name; the pid
// counts only if its process started before the namespace was made (the
// time of its /run/netns file), so a pid reused by a later process does
// not keep the leftovers forever.
func ownerAlive(name string) bool {
	rest := strings.TrimPrefix(name, Prefix)
	pidStr, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	var made time.Time
	if fi, err := os.Stat("/run/netns/" + name); err == nil {
		made = fi.ModTime()
	}
	return pidlife.OwnerAlive(pid, made)
}
