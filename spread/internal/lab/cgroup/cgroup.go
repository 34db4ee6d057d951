// Package cgroup gives each lab pod a control group with a CPU quota and a
// memory limit, as kubelet does for a container's resources.limits, and
// reads back the CPU time the pod used.
//
// It speaks cgroup v2 (cpu.max, memory.max, cpu.stat) where the unified
// hierarchy has the cpu and memory controllers, and v1 otherwise
// (cpu.cfs_quota_us / cpu.cfs_period_us, memory.limit_in_bytes,
// cpuacct.usage). Every lab's groups live under one parent named like the
// lab's namespaces (spread-lab-PID-HEX), created beneath the cgroup the lab
// process itself is in, so a sweep can find leftovers of a killed lab.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"spread.dev/spread/internal/lab/pidlife"
)

// Root is where cgroup file systems are mounted.
var Root = "/sys/fs/cgroup"

// Prefix starts every lab parent group's name (as the lab's namespaces).
const Prefix = "spread-lab-"

// period is the CFS period kubelet uses (100 ms).
const period = 100000

// Limits are a pod's resources.limits; zero means unlimited.
type Limits struct {
	MilliCPU    int64
	MemoryBytes int64
}

// ParseCPU reads a Kubernetes CPU quantity ("250m", "0.5", "2").
func ParseCPU(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("cgroup: cpu %q: want a Kubernetes quantity such as 250m or 1.5", s)
	}
	return q.MilliValue(), nil
}

// ParseMemory reads a Kubernetes memory quantity ("256Mi", "1G").
func ParseMemory(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return 0, fmt.Errorf("cgroup: memory %q: want a Kubernetes quantity such as 256Mi", s)
	}
	return q.Value(), nil
}

// Version reports which hierarchy the lab would use: "v2", "v1" or "" (none
// usable), with a reason.
func Version() (string, string) {
	if unified := v2Root(); unified != "" {
		return "v2", "cgroup v2 at " + unified + " with cpu and memory controllers"
	}
	if own, err := ownPaths(); err == nil && own["cpu"] != "" && own["memory"] != "" && own["cpuacct"] != "" {
		return "v1", "cgroup v1 controllers cpu, cpuacct and memory"
	}
	return "", "no cgroup hierarchy with cpu and memory controllers"
}

// v2Root returns the unified mount if it has the cpu and memory controllers.
func v2Root() string {
	for _, dir := range []string{Root, filepath.Join(Root, "unified")} {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if contains(f, "cpu") && contains(f, "memory") {
			return dir
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownPaths maps each v1 controller to the directory of this process's group.
func ownPaths() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			switch ctl {
			case "cpu", "cpuacct", "memory":
				dir := filepath.Join(Root, ctl, parts[2])
				if _, err := os.Stat(dir); err == nil {
					out[ctl] = dir
				}
			}
		}
	}
	return out, sc.Err()
}

// Lab is one lab's parent group.
type Lab struct {
	version string
	dirs    map[string]string // controller ("cpu", "cpuacct", "memory", or "" for v2) -> parent dir
}

// NewLab creates the parent group name (Prefix...) for one lab run.
func NewLab(name string) (*Lab, error) {
	if !strings.HasPrefix(name, Prefix) {
		return nil, fmt.Errorf("cgroup: name %q lacks prefix %q", name, Prefix)
	}
	l := &Lab{dirs: map[string]string{}}
	if unified := v2Root(); unified != "" {
		l.version = "v2"
		own, err := ownV2(unified)
		if err != nil {
			return nil, err
		}
		// Children of own need cpu and memory delegated to them.
		if err := os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644); err != nil {
			return nil, fmt.Errorf("cgroup: enable cpu and memory below %s: %w", own, err)
		}
		dir := filepath.Join(own, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644); err != nil {
			_ = os.Remove(dir)
			return nil, fmt.Errorf("cgroup: enable cpu and memory in %s: %w", dir, err)
		}
		l.dirs[""] = dir
		return l, nil
	}
	own, err := ownPaths()
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	l.version = "v1"
	for _, ctl := range []string{"cpu", "cpuacct", "memory"} {
		if own[ctl] == "" {
			_ = l.Delete()
			return nil, fmt.Errorf("cgroup: v1 controller %s not mounted under %s", ctl, Root)
		}
		dir := filepath.Join(own[ctl], name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			_ = l.Delete()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		l.dirs[ctl] = dir
	}
	return l, nil
}

// ownV2 is this process's group in the unified hierarchy.
func ownV2(unified string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "0::") {
			return filepath.Join(unified, strings.TrimPrefix(line, "0::")), nil
		}
	}
	return "", errors.New("cgroup: no v2 entry in /proc/self/cgroup")
}

// Version is "v1" or "v2".
func (l *Lab) Version() string { return l.version }

// Pod is one pod's group.
type Pod struct {
	version string
	dirs    map[string]string
}

// NewPod creates the pod's group with its limits.
func (l *Lab) NewPod(name string, lim Limits) (*Pod, error) {
	p := &Pod{version: l.version, dirs: map[string]string{}}
	for ctl, parent := range l.dirs {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			_ = p.Delete()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		p.dirs[ctl] = dir
	}
	if err := p.apply(lim); err != nil {
		_ = p.Delete()
		return nil, err
	}
	return p, nil
}

func (p *Pod) apply(lim Limits) error {
	write := func(ctl, file, value string) error {
		if err := os.WriteFile(filepath.Join(p.dirs[ctl], file), []byte(value), 0o644); err != nil {
			return fmt.Errorf("cgroup: set %s: %w", file, err)
		}
		return nil
	}
	// kubelet's conversion: quota = milliCPU * period / 1000.
	quota := lim.MilliCPU * period / 1000
	if p.version == "v2" {
		if lim.MilliCPU > 0 {
			if err := write("", "cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
				return err
			}
		}
		if lim.MemoryBytes > 0 {
			return write("", "memory.max", strconv.FormatInt(lim.MemoryBytes, 10))
		}
		return nil
	}
	if lim.MilliCPU > 0 {
		if err := write("cpu", "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
			return err
		}
		if err := write("cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
	}
	if lim.MemoryBytes > 0 {
		return write("memory", "memory.limit_in_bytes", strconv.FormatInt(lim.MemoryBytes, 10))
	}
	return nil
}

// Wrap prefixes argv so the process joins the pod's groups before it execs
// (so every thread and child it makes is accounted and limited).
func (p *Pod) Wrap(argv []string) []string {
	var joins []string
	for _, dir := range p.sortedDirs() {
		joins = append(joins, `echo $$ > '`+filepath.Join(dir, "cgroup.procs")+`'`)
	}
	script := strings.Join(joins, " && ") + ` && exec "$@"`
	return append([]string{"sh", "-c", script, "cgroup-join"}, argv...)
}

func (p *Pod) sortedDirs() []string {
	var out []string
	for _, ctl := range []string{"", "cpu", "cpuacct", "memory"} {
		if d, ok := p.dirs[ctl]; ok {
			out = append(out, d)
		}
	}
	return out
}

// CPUSeconds is the CPU time the pod's processes used so far.
func (p *Pod) CPUSeconds() (float64, error) {
	if p.version == "v2" {
		b, err := os.ReadFile(filepath.Join(p.dirs[""], "cpu.stat"))
		if err != nil {
			return 0, fmt.Errorf("cgroup: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, fmt.Errorf("cgroup: cpu.stat: %w", err)
				}
				return n / 1e6, nil
			}
		}
		return 0, errors.New("cgroup: cpu.stat has no usage_usec")
	}
	b, err := os.ReadFile(filepath.Join(p.dirs["cpuacct"], "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("cgroup: %w", err)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup: cpuacct.usage: %w", err)
	}
	return n / 1e9, nil
}

// Throttled is how often the CFS quota stopped the pod (nr_throttled).
func (p *Pod) Throttled() int64 {
	dir := p.dirs["cpu"]
	if p.version == "v2" {
		dir = p.dirs[""]
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "nr_throttled "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// Delete kills what is left in the pod's groups and removes them.
func (p *Pod) Delete() error {
	var errs []error
	for _, dir := range p.sortedDirs() {
		errs = append(errs, removeGroup(dir))
	}
	return errors.Join(errs...)
}

// Delete removes the lab's parent groups (and any pod group left in them).
func (l *Lab) Delete() error {
	var errs []error
	for _, dir := range l.dirs {
		errs = append(errs, removeTree(dir))
	}
	return errors.Join(errs...)
}

func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("cgroup: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeTree(filepath.Join(dir, e.Name())))
		}
	}
	errs = append(errs, removeGroup(dir))
	return errors.Join(errs...)
}

// removeGroup SIGKILLs the group's processes and rmdirs it; a group cannot
// be removed while a process (even a zombie being reaped) is in it, so it
// retries for a bounded while.
func removeGroup(dir string) error {
	var last error
	for i := 0; i < 40; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if os.IsNotExist(err) {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		last = os.Remove(dir)
		if last == nil || os.IsNotExist(last) {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("cgroup: remove %s: %w", dir, last)
}

// Sweep removes parent groups of labs whose process is gone (every lab's
// with all), beneath this process's own groups.
func Sweep(all bool) ([]string, error) {
	var parents []string
	if unified := v2Root(); unified != "" {
		if own, err := ownV2(unified); err == nil {
			parents = append(parents, own)
		}
	} else if own, err := ownPaths(); err == nil {
		for _, d := range own {
			parents = append(parents, d)
		}
	}
	var removed []string
	var errs []error
	for _, parent := range parents {
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), Prefix) {
				continue
			}
			if !all && ownerAlive(e.Name(), filepath.Join(parent, e.Name())) {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			if err := removeTree(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, dir)
		}
	}
	return removed, errors.Join(errs...)
}

// ownerAlive reads the pid embedded in a lab cgroup's name; the pid counts
// only if its process started before the cgroup's directory was last
// changed (a pid reused by a later process does not keep leftovers).
func ownerAlive(name, dir string) bool {
	pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, Prefix), "-")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	var made time.Time
	if fi, err := os.Stat(dir); err == nil {
		made = fi.ModTime()
	}
	return pidlife.OwnerAlive(pid, made)
}
