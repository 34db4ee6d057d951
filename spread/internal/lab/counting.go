package lab

import (
	"bufio"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// Server-side counting: what each pod served, measured without the
// client's help, so any client (spread, Locust, curl, a browser) can be
// compared. Three sources per pod:
//   - requests: the pod's own /metrics (echo-server's echo_requests_total),
//     else access-log lines in its output (any server printing a common-log
//     style line per request, e.g. Hypercorn with --access-logfile -);
//   - new_flows: the Service's own bookkeeping: packet counters of the
//     endpoint's DNAT rule (iptables KUBE-SEP chain, nft endpoint chain),
//     which the nat table sees once per new connection or UDP 5-tuple, or the
//     userspace proxy's count;
//   - cpu_seconds: the pod's cgroup (cpuacct.usage or cpu.stat).
// A source that is missing stays null in events.json.

// PodSample is one pod's counters at one moment (AtSeconds relative to the
// script's start).
type PodSample struct {
	AtSeconds  float64  `json:"at_s"`
	Requests   *float64 `json:"requests"`
	NewFlows   *int64   `json:"new_flows"`
	CPUSeconds *float64 `json:"cpu_seconds"`
}

// PodStats is one entry of events.json's `pods` object.
type PodStats struct {
	Address        string      `json:"address"`
	Requests       *float64    `json:"requests"`
	RequestsSource string      `json:"requests_source,omitempty"` // "metrics" or "access-log"
	NewFlows       *int64      `json:"new_flows"`
	CPUSeconds     *float64    `json:"cpu_seconds"`
	CPUThrottled   *int64      `json:"cpu_throttled_periods,omitempty"`
	OverTime       []PodSample `json:"over_time"`
}

// accessLogRe matches one request line of the common/combined log format
// ("GET /path HTTP/1.1" 200) that Hypercorn, gunicorn, nginx, Caddy's
// common_log and Python's http.server print.
// Hypercorn prints the version without "HTTP/" ("GET / 1.1" 200).
var accessLogRe = regexp.MustCompile(`"(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE) (\S+) (?:HTTP/)?[0-9.]+" [1-5][0-9][0-9]`)

// logCounter counts access-log lines in a pod's log file incrementally.
type logCounter struct {
	path   string
	skip   map[string]bool // request paths not counted: the lab's own probes
	offset int64
	count  int64
	rest   []byte
}

// update reads what the pod wrote since the last call.
func (c *logCounter) update() int64 {
	f, err := os.Open(c.path)
	if err != nil {
		return c.count
	}
	defer f.Close()
	if _, err := f.Seek(c.offset, io.SeekStart); err != nil {
		return c.count
	}
	r := bufio.NewReaderSize(f, 64*1024)
	for {
		line, err := r.ReadBytes('\n')
		c.offset += int64(len(line))
		if err != nil {
			// A partial last line is kept for the next read.
			c.rest = append(c.rest, line...)
			break
		}
		if len(c.rest) > 0 {
			line = append(c.rest, line...)
			c.rest = nil
		}
		if m := accessLogRe.FindSubmatch(line); m != nil {
			p := string(m[1])
			if i := strings.IndexByte(p, '?'); i >= 0 {
				p = p[:i]
			}
			if !c.skip[p] {
				c.count++
			}
		}
	}
	return c.count
}

// sampleLoop records every pod's counters each period until ctx ends.
func (l *lab) sampleLoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.sampleAll()
		}
	}
}

// sampleAll reads the counters of every pod still running.
func (l *lab) sampleAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	flows, flowsErr := l.svc.newFlows(ctx)
	l.mu.Lock()
	all := append([]*podState(nil), l.podList...)
	l.mu.Unlock()
	for _, ps := range all {
		select {
		case <-ps.pod.Done():
			continue // its last values were taken when it went
		default:
		}
		l.scrape(ps)
		l.sampleOne(ps, flows, flowsErr == nil)
	}
}

// sampleOne updates a pod's CPU, log and flow counters and appends a sample.
func (l *lab) sampleOne(ps *podState, flows map[string]int64, haveFlows bool) {
	var cpu *float64
	var throttled *int64
	if ps.cg != nil {
		if v, err := ps.cg.CPUSeconds(); err == nil {
			cpu = &v
		}
		n := ps.cg.Throttled()
		throttled = &n
	}
	logged := ps.logs.update()
	l.mu.Lock()
	defer l.mu.Unlock()
	if cpu != nil {
		ps.stats.CPUSeconds = cpu
		ps.stats.CPUThrottled = throttled
	}
	if haveFlows {
		n := flows[ps.info.Name] - l.flowOffset[ps.info.Name]
		ps.stats.NewFlows = &n
	}
	switch {
	case ps.scraped:
		v := ps.info.ServerRequests
		ps.stats.Requests, ps.stats.RequestsSource = &v, "metrics"
	case logged > 0:
		v := float64(logged)
		ps.stats.Requests, ps.stats.RequestsSource = &v, "access-log"
	}
	at := 0.0
	if !l.res.Start.IsZero() {
		at = time.Since(l.res.Start).Seconds()
	}
	ps.stats.OverTime = append(ps.stats.OverTime, PodSample{AtSeconds: at,
		Requests: ps.stats.Requests, NewFlows: ps.stats.NewFlows, CPUSeconds: ps.stats.CPUSeconds})
}

// finalSample takes a pod's last values just before it goes (or when it
// went), so counters of removed pods survive in the results.
func (l *lab) finalSample(ps *podState) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	flows, err := l.svc.newFlows(ctx)
	l.sampleOne(ps, flows, err == nil)
}
