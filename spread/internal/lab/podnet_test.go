package lab

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"spread.dev/spread/internal/lab/pods"
)

// TestStoppedPodAddressVanishes: each pod has its own namespace behind the
// node's bridge; while it runs its address answers from the node, and once
// it is gone a connection attempt times out (nobody answers ARP) instead of
// being refused, as for a deleted pod in a cluster.
func TestStoppedPodAddressVanishes(t *testing.T) {
	requireIPTables(t)
	labpod, _, _ := bins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := newNodeService(ctx, Config{}, ModeIPTables)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.close(); err != nil {
			t.Error(err)
		}
	}()
	spec, err := s.nextSpec("echo-server-1")
	if err != nil {
		t.Fatal(err)
	}
	argv, err := pods.TemplateArgs(podTemplate(labpod), spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pods.Start(spec, s.wrapPod(spec.Name, argv), nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second, true)
	addr := net.JoinHostPort(spec.IP, "5080")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialFromNode(s, addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod never reachable at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A closed port of a living pod is refused (reset): the pod's own kernel answers.
	if _, err := dialFromNode(s, net.JoinHostPort(spec.IP, "5999"), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port of a running pod: %v, want connection refused", err)
	}
	p.Signal(syscall.SIGKILL)
	<-p.Done()
	if err := s.podGone(spec.Name); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = dialFromNode(s, addr, 1500*time.Millisecond)
	var ne net.Error
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) || !(errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EHOSTUNREACH)) {
		t.Fatalf("dial to a gone pod: %v, want a timeout (or host unreachable), not a reset", err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("dial to a gone pod failed after %v: something answered", el)
	}
}

func dialFromNode(s *nodeService, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.ns.DialContext(ctx, "tcp", addr)
}
