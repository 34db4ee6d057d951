package pidlife

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestOwnerAlive: a real child process owns what was made after it
// started, not what was made before (its pid "reused"), and a dead pid
// owns nothing.
func TestOwnerAlive(t *testing.T) {
	before := time.Now().Add(-10 * time.Second)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	start, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < -slack || d > 10*time.Second {
		t.Errorf("start time of a child just started is %s ago", d)
	}
	if !OwnerAlive(pid, time.Now()) {
		t.Error("the child does not own a resource made after it started")
	}
	if OwnerAlive(pid, before) {
		t.Error("the child owns a resource made 10s before it started (a reused pid)")
	}
	self, err := StartTime(os.Getpid())
	if err != nil || self.After(start) {
		t.Errorf("this test process started at %v, after its child (%v): %v", self, start, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if OwnerAlive(pid, time.Now()) {
		t.Error("a dead pid is alive")
	}
}
