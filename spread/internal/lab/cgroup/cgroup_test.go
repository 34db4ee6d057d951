package cgroup

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"250m", 250}, {"0.5", 500}, {"2", 2000}} {
		if got, err := ParseCPU(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseCPU(%q) = %d, %v", tt.in, got, err)
		}
	}
	if got, err := ParseMemory("256Mi"); err != nil || got != 256<<20 {
		t.Errorf("ParseMemory(256Mi) = %d, %v", got, err)
	}
	for _, bad := range []string{"", "lots", "-1", "0"} {
		if _, err := ParseCPU(bad); err == nil {
			t.Errorf("ParseCPU(%q) accepted", bad)
		}
		if _, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
}

func requireCgroups(t *testing.T) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroups need root (CI runs as root)")
	}
	if v, why := Version(); v == "" {
		t.Skip(why)
	}
	l, err := NewLab(Prefix + "test-" + strings.ReplaceAll(t.Name(), "/", "-"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Delete(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// A busy loop limited to 50m is throttled by the CFS quota (even a loaded
// 2-core machine gives it more than 5 ms per 100 ms period) and uses at
// most a twentieth of a CPU; its CPU time is read from the group.
func TestCPUQuotaThrottlesAndAccounts(t *testing.T) {
	l := requireCgroups(t)
	p, err := l.NewPod("busy", Limits{MilliCPU: 50})
	if err != nil {
		t.Fatal(err)
	}
	argv := p.Wrap([]string{"sh", "-c", "while :; do :; done"})
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cpu, err := p.CPUSeconds()
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 s at 50m is 0.075 s; allow a period of slack.
	if cpu <= 0.005 || cpu > 0.2 {
		t.Errorf("busy loop used %.3f CPU-s in 1.5 s under a 50m quota", cpu)
	}
	if p.Throttled() == 0 {
		t.Error("never throttled: the quota is not applied")
	}
	if err := p.Delete(); err != nil {
		t.Fatal(err)
	}
}

// A process allocating beyond the memory limit is OOM-killed, as a
// container over its limit is.
func TestMemoryLimitKills(t *testing.T) {
	l := requireCgroups(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	p, err := l.NewPod("hungry", Limits{MemoryBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Delete()
	argv := p.Wrap([]string{py, "-c", "x = bytearray(256 << 20); x[::4096] = b'1' * len(x[::4096]); print('survived')"})
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err == nil || strings.Contains(string(out), "survived") {
		t.Errorf("allocating 256 MiB under a 32 MiB limit: %v %s", err, out)
	}
}
