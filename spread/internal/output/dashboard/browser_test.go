package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"spread.dev/echo-server/testbin"
	"spread.dev/spread/output"
)

// browser is a headless Chromium driven over the DevTools protocol, so a
// test can wait for what a live page shows (a --dump-dom run dumps at the
// load event, before any Server-Sent Event arrived).
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts Chromium; offline points every host name nowhere and
// every request at a closed proxy, so a page that fetches anything fails.
func newBrowser(t *testing.T, timeout time.Duration, offline bool) *browser {
	t.Helper()
	bin := testbin.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1300, 1500),
		chromedp.Env("HOME="+t.TempDir()))
	if offline {
		opts = append(opts, chromedp.ProxyServer("http://127.0.0.1:9"), chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA(); cancel() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: bctx}
}

// run runs chromedp actions, failing the test with what was being done.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("chromium: %s: %v", what, err)
	}
}

// waitFor polls a JS expression on the page until it is true.
func (b *browser) waitFor(expr string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		dom, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		b.t.Fatalf("page never showed %s: %v\n%.3000s", expr, err, dom)
	}
}

// eval evaluates a JS expression on the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("chromium: evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves a PNG of the window (in DASHBOARD_SHOT_DIR when set, to
// look at it) and decodes it.
func (b *browser) screenshot(name string) image.Image {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := b.t.TempDir()
	if d := os.Getenv("DASHBOARD_SHOT_DIR"); d != "" {
		dir = d
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return img
}

// countColor counts pixels within a small distance of an RGB colour.
func countColor(img image.Image, r, g, bl uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			d := math.Abs(float64(pr>>8)-float64(r)) + math.Abs(float64(pg>>8)-float64(g)) + math.Abs(float64(pb>>8)-float64(bl))
			if d < 40 {
				n++
			}
		}
	}
	return n
}

// Colours the pages draw with (app.js palette and style.css).
var (
	colorPod0   = [3]uint8{0x00, 0x72, 0xB2}
	colorPod1   = [3]uint8{0xD5, 0x5E, 0x00}
	colorMarker = [3]uint8{0xC0, 0x00, 0x00}
)

func wantColor(t *testing.T, img image.Image, name string, c [3]uint8, min int) {
	t.Helper()
	if n := countColor(img, c[0], c[1], c[2]); n < min {
		t.Errorf("%s: %d pixels of #%02X%02X%02X in the screenshot, want >= %d", name, n, c[0], c[1], c[2], min)
	}
}

// podsJS lists the pods of a table as the page shows them.
const podsJS = `Array.from(document.querySelectorAll('#pods-table tbody tr')).map(r => r.dataset.pod)`

// checkPodsView opens the Pods tab and checks it lists want, with drawn
// series per pod in every pod chart; it returns a screenshot.
func checkPodsView(t *testing.T, b *browser, want []string, markers bool, shot string) image.Image {
	t.Helper()
	b.run("open the pods tab", chromedp.Click(chromedp.CSS(`nav button[data-tab=pods]`)))
	pods := eval[[]string](b, podsJS)
	for _, w := range want {
		if !contains(pods, w) {
			t.Errorf("Pods view lists %v, want %s", pods, w)
		}
	}
	drawn := eval[map[string]int](b, `(() => { const out = {};
	  document.querySelectorAll('#charts-pods svg.chart path.series').forEach(p => {
	    if ((p.getAttribute('d').match(/L/g) || []).length >= 1) out[p.dataset.series] = (out[p.dataset.series] || 0) + 1; });
	  return out; })()`)
	for _, w := range want {
		if drawn[w] < 4 {
			t.Errorf("pod %s drawn in %d pod charts, want 4 (%v)", w, drawn[w], drawn)
		}
	}
	if markers {
		n := eval[int](b, `document.querySelectorAll('#charts-pods svg.chart g.marker.scale').length`)
		if n < 4 {
			t.Errorf("%d scale markers on the pod charts, want one on each of 4", n)
		}
	}
	img := b.screenshot(shot)
	wantColor(t, img, "first pod", colorPod0, 200)
	wantColor(t, img, "second pod", colorPod1, 200)
	if markers {
		wantColor(t, img, "scale marker", colorMarker, 30)
	}
	return img
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestExportRendersOffline opens an exported report from a file with the
// browser's network switched off: the page draws every chart and names
// both pods on its first view.
func TestExportRendersOffline(t *testing.T) {
	b := newBrowser(t, 60*time.Second, true)
	f := newFeed()
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	_ = os.WriteFile(events, []byte(fmt.Sprintf(`{"time":%q,"kind":"scale","detail":"1->2"}`+"\n"+`{"time":%q,"kind":"pod-added","pod":"pod-b"}`+"\n",
		f.start.Add(3900*time.Millisecond).Format(time.RFC3339Nano), f.start.Add(4*time.Second).Format(time.RFC3339Nano))), 0o644)
	path := filepath.Join(dir, "report.html")
	o, err := output.New("html="+path, output.Params{Registry: f.reg, StartTime: f.start, ScriptPath: "scale.js", Env: map[string]string{LabEventsEnv: events}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	o.AddSamples(f.samples())
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	b.run("open report", chromedp.Navigate("file://"+path))
	b.waitFor(`document.querySelectorAll('#overview-pods tbody tr').length == 2`, 10*time.Second)
	first := eval[[]string](b, `Array.from(document.querySelectorAll('#overview-pods tbody tr')).map(r => r.dataset.pod + '=' + r.querySelector('[data-key=requests]').textContent)`)
	if strings.Join(first, ",") != "pod-a=60,pod-b=20" {
		t.Errorf("first view pods %v, want pod-a=60,pod-b=20", first)
	}
	if n := eval[int](b, `performance.getEntriesByType('resource').length`); n != 0 {
		t.Errorf("the report fetched %d resources; it must need none", n)
	}
	state := eval[string](b, `document.getElementById('status').dataset.state`)
	if state != "done" {
		t.Errorf("status %q, want done", state)
	}
	charts := eval[int](b, `document.querySelectorAll('svg.chart').length`)
	if charts != 11 {
		t.Errorf("%d charts, want 11 (5 overview, 2 timings, 4 pods)", charts)
	}
	img := b.screenshot("export-overview")
	wantColor(t, img, "pod-a", colorPod0, 200)
	wantColor(t, img, "pod-b", colorPod1, 200)
	checkPodsView(t, b, []string{"pod-a", "pod-b"}, true, "export-pods")

	// The protocol filter: HTTP/2.0 was only ever served by pod-b.
	eval[bool](b, `(() => { const s = document.getElementById('f-proto'); s.value = 'HTTP/2.0'; s.dispatchEvent(new Event('change')); return true; })()`)
	pods := eval[[]string](b, podsJS)
	if strings.Join(pods, ",") != "pod-b" {
		t.Errorf("with proto HTTP/2.0 the Pods view lists %v, want [pod-b]", pods)
	}
}
