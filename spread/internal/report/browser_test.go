package report

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"spread.dev/echo-server/testbin"
)

// runChromium runs headless Chromium with the flags this machine needs
// (no sandbox as root, no background network) plus args; it returns stdout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// writeSyntheticResults writes report.html and summary.json as the
// experiments would, from synthetic timelines.
func writeSyntheticResults(t *testing.T, dir string) []Summary {
	t.Helper()
	var runs []Run
	for i, name := range []string{"h1-keepalive-scale", "h1-close-scale"} {
		tl := synthetic()
		s := Summarize(name, tl)
		s.Protocol, s.Mode, s.Proxy, s.ReplicasBefore, s.ReplicasAfter = "h1", []string{"keep-alive", "close"}[i], "userspace", 1, 2
		s.ScaleAtS, s.NewPodShare, s.FairShare, s.Expected, s.Verdict = ptr(10), ptr(0.123+0.3*float64(i)), ptr(0.5), "zero", "as-expected"
		s.ConnectionsOpened = int64(50 + i)
		runs = append(runs, Run{Summary: s, Series: tl.Series(t0.Add(-time.Second)),
			Markers: []Marker{{AtS: 11, Label: "scale to 2", Kind: "scale"}, {AtS: 11.4, Label: "+pod-b ready", Kind: "pod-added"}}})
	}
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Render(f, Report{Title: "browser test", Runs: runs}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var sums []Summary
	for _, r := range runs {
		sums = append(sums, r.Summary)
	}
	data, _ := json.Marshal(sums)
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestReportInChromium renders report.html in headless Chromium: the DOM
// it builds has the charts with drawn paths and a table whose values are
// summary.json's, and the screenshot shows the pods' colours.
func TestReportInChromium(t *testing.T) {
	bin := testbin.Chromium(t)
	dir := t.TempDir()
	writeSyntheticResults(t, dir)
	url := "file://" + filepath.Join(dir, "report.html")

	dom := string(runChromium(t, bin, "--dump-dom", url))
	if !strings.Contains(dom, "<title>browser test</title>") {
		t.Fatalf("page did not render:\n%.500s", dom)
	}
	if got := strings.Count(dom, `<svg class="chart"`); got != 6 {
		t.Errorf("%d svg charts in the DOM, want 6", got)
	}
	paths := regexp.MustCompile(`<path class="series" data-series="([^"]+)" d="([^"]*)"`).FindAllStringSubmatch(dom, -1)
	drawn := map[string]int{}
	for _, p := range paths {
		if strings.Count(p[2], "L") >= 5 {
			drawn[p[1]]++
		}
	}
	for _, s := range []string{"pod-a", "pod-b", "total", "p50", "p95", "errors"} {
		if drawn[s] != 2 {
			t.Errorf("series %s drawn in %d charts, want 2 (one per run)", s, drawn[s])
		}
	}

	// The first screen answers before the table: a small chart per run
	// with both pods drawn, and fairness against cost with a point per run.
	answer, table := strings.Index(dom, `<section id="answer">`), strings.Index(dom, `<table id="summary">`)
	if answer < 0 || answer > table {
		t.Errorf("the answer section is missing or after the table (at %d, table at %d)", answer, table)
	}
	if got := strings.Count(dom, `<svg class="small"`); got != 2 {
		t.Errorf("%d small multiples, want one per run", got)
	}
	small := regexp.MustCompile(`<path class="sseries" data-series="(pod-[ab])" d="([^"]*)"`).FindAllStringSubmatch(dom, -1)
	if len(small) != 4 {
		t.Errorf("%d pod lines in the small multiples, want 4", len(small))
	}
	for _, id := range []string{"fair-vs-p95", "fair-vs-rps"} {
		i := strings.Index(dom, `id="`+id+`"`)
		if i < 0 {
			t.Errorf("no %s chart", id)
			continue
		}
		end := strings.Index(dom[i:], "</svg>")
		if n := strings.Count(dom[i:i+end], `<g class="point"`); n != 2 {
			t.Errorf("%s: %d points, want one per run", id, n)
		}
	}

	// The table against summary.json, by the values Chromium shows.
	var sums []map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(data, &sums); err != nil {
		t.Fatal(err)
	}
	tdRe := regexp.MustCompile(`<td data-key="([a-z_0-9]+)"[^>]*>([^<]*)</td>`)
	for _, want := range sums {
		name := want["name"].(string)
		row := regexp.MustCompile(`<tr data-name="` + regexp.QuoteMeta(name) + `">(.*?)</tr>`).FindStringSubmatch(dom)
		if row == nil {
			t.Errorf("no table row for %s", name)
			continue
		}
		checked := 0
		for _, td := range tdRe.FindAllStringSubmatch(row[1], -1) {
			key, text := td[1], td[2]
			w, ok := want[key]
			if !ok {
				continue
			}
			checked++
			switch w := w.(type) {
			case float64:
				shown, err := strconv.ParseFloat(text, 64)
				decimals := 0
				if i := strings.IndexByte(text, '.'); i >= 0 {
					decimals = len(text) - i - 1
				}
				if err != nil || math.Abs(shown-w) > 0.5*math.Pow(10, -float64(decimals))+1e-9 {
					t.Errorf("%s/%s: table shows %q, summary.json has %v", name, key, text, w)
				}
			case string:
				if text != w {
					t.Errorf("%s/%s: table shows %q, summary.json has %q", name, key, text, w)
				}
			}
		}
		if checked < 12 {
			t.Errorf("%s: only %d cells compared", name, checked)
		}
	}

	// The screenshot: the charts are painted in the pods' colours.
	shot := filepath.Join(dir, "shot.png")
	if d := os.Getenv("REPORT_SHOT_DIR"); d != "" {
		shot = filepath.Join(d, "shot.png")
	}
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		r, g, b uint8
	}{{"pod-a #0072B2", 0x00, 0x72, 0xB2}, {"pod-b #D55E00", 0xD5, 0x5E, 0x00}, {"scale marker #C00000", 0xC0, 0x00, 0x00}} {
		if n := countColor(img, c.r, c.g, c.b); n < 30 {
			t.Errorf("%s: %d pixels in the screenshot, want a drawn line", c.name, n)
		}
	}
}

// countColor counts pixels within a small distance of an RGB colour.
func countColor(img image.Image, r, g, b uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			d := math.Abs(float64(pr>>8)-float64(r)) + math.Abs(float64(pg>>8)-float64(g)) + math.Abs(float64(pb>>8)-float64(b))
			if d < 40 {
				n++
			}
		}
	}
	return n
}
