// Command databench measures k6/data's promise: 1,000 VUs over a 10 MB
// SharedArray cost about one copy of the data, not one per VU. It runs
// the spread binary four ways ({SharedArray, no data} × {1 VU, N VUs})
// plus a per-VU JSON.parse(open()) copy on a few VUs for contrast, samples
// each process's resident memory, and writes a Markdown section.
//
//	go run ./spread/internal/modules/data/databench -spread bin/spread -out docs/bench/shareddata.md
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"spread.dev/echo-server/testbin"
	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/data"
)

const (
	sharedScript = `import { SharedArray } from 'k6/data';
import { sleep } from 'k6';
const data = new SharedArray('big', () => JSON.parse(open('./big.json')));
export default function () {
  const e = data[Math.floor(Math.random() * data.length)];
  if (typeof e.id !== 'number') throw new Error('bad element');
  sleep(1);
}
`
	noDataScript = `import { sleep } from 'k6';
export default function () { sleep(1); }
`
	copyScript = `import { sleep } from 'k6';
const data = JSON.parse(open('./big.json'));
export default function () {
  const e = data[Math.floor(Math.random() * data.length)];
  if (typeof e.id !== 'number') throw new Error('bad element');
  sleep(1);
}
`
)

func main() {
	spread := flag.String("spread", "bin/spread", "spread binary")
	out := flag.String("out", "", "Markdown file to write (stdout if empty)")
	vus := flag.Int("vus", 1000, "VUs of the large runs")
	copyVUs := flag.Int("copy-vus", 20, "VUs of the per-VU-copy contrast run")
	mb := flag.Int("mb", 10, "size of the JSON array, MB")
	dur := flag.String("d", "15s", "duration of each run")
	flag.Parse()
	if err := run(*spread, *out, *vus, *copyVUs, *mb, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "databench:", err)
		os.Exit(1)
	}
}

// bigJSON writes an array of objects of about mb megabytes.
func bigJSON(path string, mb int) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	w.WriteString("[")
	n := 0
	size := 1
	for i := 0; size < mb*1000*1000; i++ {
		if i > 0 {
			w.WriteString(",")
			size++
		}
		b, _ := json.Marshal(map[string]any{
			"id": i, "username": fmt.Sprintf("user%07d", i), "password": fmt.Sprintf("pw-%x", i*2654435761),
			"email": fmt.Sprintf("user%07d@example.test", i), "tags": []string{"a", "b"},
		})
		w.Write(b)
		size += len(b)
		n++
	}
	w.WriteString("]")
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

type result struct{ peakKB int64 }

func run(spread, out string, vus, copyVUs, mb int, dur string) error {
	spread, err := filepath.Abs(spread)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "databench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	elems, err := bigJSON(filepath.Join(dir, "big.json"), mb)
	if err != nil {
		return err
	}
	st, _ := os.Stat(filepath.Join(dir, "big.json"))
	for name, src := range map[string]string{"shared.js": sharedScript, "none.js": noDataScript, "copy.js": copyScript} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	live, err := liveHeap(filepath.Join(dir, "big.json"), vus)
	if err != nil {
		return err
	}
	measure := func(script string, n int) (int64, error) {
		fmt.Fprintf(os.Stderr, "%s with %d VUs for %s...\n", script, n, dur)
		return peakRSS(dir, []string{"GOGC=100"}, spread, "run", "-q", "--no-summary", "-u", strconv.Itoa(n), "-d", dur, script)
	}
	sharedMany, err := measure("shared.js", vus)
	if err != nil {
		return err
	}
	sharedOne, err := measure("shared.js", 1)
	if err != nil {
		return err
	}
	noneMany, err := measure("none.js", vus)
	if err != nil {
		return err
	}
	noneOne, err := measure("none.js", 1)
	if err != nil {
		return err
	}
	copyMany, err := measure("copy.js", copyVUs)
	if err != nil {
		return err
	}
	mib := func(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	fileMiB := float64(st.Size()) / (1 << 20)
	oneCopy := sharedOne - noneOne
	extraShared := sharedMany - sharedOne
	extraNone := noneMany - noneOne
	perCopyVU := float64(copyMany-noneOne) / float64(copyVUs) / 1024

	var b strings.Builder
	mibB := func(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(&b, "# k6/data SharedArray memory\n\n")
	fmt.Fprintf(&b, "Measured %s on %d CPUs (%s/%s, %s). A %.1f MiB JSON file (%d objects) loaded with\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), fileMiB, elems)
	fmt.Fprintf(&b, "`new SharedArray('big', () => JSON.parse(open('./big.json')))`; every VU reads a random element and sleeps 1 s,\n")
	fmt.Fprintf(&b, "for %s. Figures are the peak resident memory of the spread process (sampled every 100 ms).\n\n", dur)
	fmt.Fprintf(&b, "## Live Go heap (in process, after runtime.GC)\n\n")
	fmt.Fprintf(&b, "%d goja VU runtimes with k6/data (ext/exttest VUs of one run); VU 1 builds the array from the parsed file, then every VU makes its view and reads an element.\n\n", vus)
	fmt.Fprintf(&b, "| measurement | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| the shared copy (heap after VU 1 built the array − before) | %s |\n", mibB(live.oneCopy))
	fmt.Fprintf(&b, "| **%d VUs' views of it, each having read an element** (heap after − before) | **%s** (%.0f bytes per VU) |\n", vus, mibB(live.views), float64(live.views)/float64(vus))
	fmt.Fprintf(&b, "| for scale: %d bare VU runtimes (having used JSON, Math, Object.freeze: goja creates builtins lazily) | %s |\n\n", vus, mibB(live.runtimes))
	fmt.Fprintf(&b, "## Resident memory of `spread run` (GOGC=100)\n\n")
	fmt.Fprintf(&b, "RSS includes the garbage of the one-time JSON.parse until the Go runtime returns it, so it is an upper bound; the live-heap table is the exact figure.\n\n")
	fmt.Fprintf(&b, "| measurement | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| peak RSS, SharedArray, %d VUs | %s |\n", vus, mib(sharedMany))
	fmt.Fprintf(&b, "| peak RSS, SharedArray, 1 VU | %s |\n", mib(sharedOne))
	fmt.Fprintf(&b, "| peak RSS, no data, %d VUs | %s |\n", vus, mib(noneMany))
	fmt.Fprintf(&b, "| peak RSS, no data, 1 VU | %s |\n", mib(noneOne))
	fmt.Fprintf(&b, "| the array's cost with 1 VU (SharedArray 1 VU − no data 1 VU: the shared copy, the open() cache and the garbage of the one-time JSON.parse, which sets the peak) | %s |\n", mib(oneCopy))
	fmt.Fprintf(&b, "| **what %d VUs add to the peak with the SharedArray** (%d VUs − 1 VU) | **%s** |\n", vus, vus, mib(extraShared))
	fmt.Fprintf(&b, "| what %d VUs add without data, for scale (their runtimes; with the array they fit in the parse's garbage, which the GC reuses) | %s |\n", vus, mib(extraNone))
	fmt.Fprintf(&b, "| contrast: a per-VU `JSON.parse(open())` copy, %d VUs: memory per VU | %.1f MiB (so %d VUs would need ~%.0f GiB) |\n\n",
		copyVUs, perCopyVU, vus, perCopyVU*float64(vus)/1024)
	fmt.Fprintf(&b, "Goal: %d VUs stay within a few MiB of one copy: the bold rows are what the VUs add beyond the one copy.\n\n", vus)
	fmt.Fprintf(&b, "Rerun: `go run ./spread/internal/modules/data/databench -spread bin/spread -out docs/bench/shareddata.md` (about 2 minutes).\n")
	if out == "" {
		fmt.Print(b.String())
		return nil
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// peakRSS runs a command to its end, sampling its resident memory.
func peakRSS(dir string, env []string, name string, args ...string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return 0, fmt.Errorf("%s %v: %w", name, args, err)
			}
			return peak, nil
		case <-t.C:
			if kb := testbin.RSSKB(cmd.Process.Pid); kb > peak {
				peak = kb
			}
		}
	}
}

type liveResult struct{ runtimes, oneCopy, views int64 }

func heapNow() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// liveHeap measures, in this process, what n VU runtimes hold because of
// a SharedArray built from the JSON file at path. The script is compiled
// once and run in every runtime, as spread does.
func liveHeap(path string, n int) (liveResult, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return liveResult{}, err
	}
	mk := goja.MustCompile("script.js", `const { SharedArray } = require('k6/data');
const data = new SharedArray('big', () => JSON.parse(src()));
const e = data[Math.floor(Math.random() * data.length)];
if (typeof e.id !== 'number') throw new Error('bad element');`, false)
	// The builtins the script and the view touch, which goja creates
	// lazily per runtime, are counted with the runtimes, not the array.
	warm := goja.MustCompile("warm.js", `require('k6/data');
JSON.stringify(JSON.parse('{"id":1,"t":["a"]}')); Math.floor(Math.random());
Object.isFrozen(Object.freeze({})); Object.keys({}); [].map((x) => x); new Error('x');`, false)
	h0 := heapNow()
	vus := make([]*exttest.VU, n)
	for i := range vus {
		vus[i] = exttest.New(nil)
		if i > 0 {
			vus[i].Reg = vus[0].Reg // one run
		}
		if _, err := vus[i].RT.RunProgram(warm); err != nil {
			return liveResult{}, err
		}
	}
	h1 := heapNow()
	_ = vus[0].RT.Set("src", func() string { return string(src) })
	if _, err := vus[0].RT.RunProgram(mk); err != nil {
		return liveResult{}, err
	}
	h2 := heapNow()
	for _, vu := range vus[1:] {
		_ = vu.RT.Set("src", func() string { panic("the SharedArray function ran twice") })
		if _, err := vu.RT.RunProgram(mk); err != nil {
			return liveResult{}, err
		}
	}
	h3 := heapNow()
	runtime.KeepAlive(vus)
	runtime.KeepAlive(src) // held throughout, as spread's open() cache holds the file
	return liveResult{runtimes: h1 - h0, oneCopy: h2 - h1, views: h3 - h2}, nil
}
