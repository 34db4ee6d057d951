package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"spread.dev/spread/internal/executor"
)

// progressTotal is a bar's resolution: Fraction is shown in thousandths.
const progressTotal = 1000

// plainEvery is how often plain progress lines are written when the
// output is not a terminal (CI logs, the lab's child processes).
const plainEvery = 5 * time.Second

// progress is the live display; Stop ends it and waits for its goroutine.
type progress struct {
	stop func()
}

func (p progress) Stop() { p.stop() }

// startProgress shows a bar per scenario on a terminal (stderr) and plain
// lines otherwise, unless quiet or turned off.
func (r *run) startProgress(ctx context.Context, start time.Time) progress {
	mode := r.cfg.Progress
	if mode == "" {
		mode = "auto"
	}
	if r.cfg.Quiet || mode == "none" {
		return progress{stop: func() {}}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	if mode == "auto" && r.cfg.StderrTTY {
		go func() { defer wg.Done(); r.bars(ctx, start) }()
	} else {
		go func() { defer wg.Done(); r.plainLines(ctx, start) }()
	}
	return progress{stop: func() { cancel(); wg.Wait() }}
}

// bars draws one mpb bar per scenario until ctx ends.
func (r *run) bars(ctx context.Context, start time.Time) {
	p := mpb.New(mpb.WithOutput(r.cfg.Stderr), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
	snaps := r.sched.Progress()
	var mu sync.Mutex
	width := 0
	for _, s := range snaps {
		width = max(width, len(s.Name))
	}
	bars := make([]*mpb.Bar, len(snaps))
	for i := range snaps {
		i := i
		bars[i] = p.AddBar(progressTotal,
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				mu.Lock()
				defer mu.Unlock()
				return fmt.Sprintf("%-*s", width, snaps[i].Name)
			})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				mu.Lock()
				defer mu.Unlock()
				return scenarioLine(snaps[i])
			})),
		)
	}
	// Log lines go through mpb so they print above the bars.
	prev := r.log.SetOutput(p)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.log.SetOutput(prev)
			mu.Lock()
			snaps = r.sched.Progress()
			mu.Unlock()
			for i, b := range bars {
				b.SetCurrent(int64(snaps[i].Fraction * progressTotal))
				b.Abort(false)
			}
			p.Wait()
			return
		case <-t.C:
		}
		mu.Lock()
		snaps = r.sched.Progress()
		mu.Unlock()
		for i, b := range bars {
			cur := int64(snaps[i].Fraction * progressTotal)
			if cur >= progressTotal {
				cur = progressTotal - 1 // completing a bar ends it; Abort does at the end
			}
			b.SetCurrent(cur)
		}
	}
}

// plainLines writes a progress line every plainEvery until ctx ends.
func (r *run) plainLines(ctx context.Context, start time.Time) {
	t := time.NewTicker(plainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = io.WriteString(r.cfg.Stderr, r.progressLine(time.Since(start)))
		}
	}
}

// progressLine is k6's "running (...)" line followed by one line per scenario.
func (r *run) progressLine(elapsed time.Duration) string {
	snaps := r.sched.Progress()
	var iters, interrupted int64
	for _, s := range snaps {
		iters += s.Iterations
		interrupted += s.Interrupted
	}
	var b strings.Builder
	fmt.Fprintf(&b, "running (%s), %d/%d VUs, %d complete and %d interrupted iterations\n",
		fmtElapsed(elapsed), r.sched.ActiveVUs(), r.pool.Total(), iters, interrupted)
	for _, s := range snaps {
		fmt.Fprintf(&b, "%s [%3.0f%%] %s\n", s.Name, s.Fraction*100, scenarioLine(s))
	}
	return b.String()
}

// scenarioLine describes one scenario's state: VUs, iterations, time.
func scenarioLine(s executor.Progress) string {
	state := ""
	switch {
	case s.Done:
		state = " done"
	case !s.Started:
		state = " waiting"
	}
	line := fmt.Sprintf("%d/%d VUs  %d iters", s.ActiveVUs, s.MaxVUs, s.Iterations)
	if s.Dropped > 0 {
		line += fmt.Sprintf("  %d dropped", s.Dropped)
	}
	if s.Total > 0 {
		line += fmt.Sprintf("  %s/%s", fmtElapsed(min(s.Elapsed, s.Total)), fmtElapsed(s.Total))
	}
	return line + state
}

// fmtElapsed formats like k6: 0m05.0s.
func fmtElapsed(d time.Duration) string {
	m := int(d / time.Minute)
	s := float64(d%time.Minute) / float64(time.Second)
	return fmt.Sprintf("%dm%04.1fs", m, s)
}
