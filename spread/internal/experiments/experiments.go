// Package experiments runs the experiment plan: each experiment goes
// through the lab (spread/internal/lab), its samples through spread/internal/experiments/
// analysis, and the results into results/summary.json, summary.md and
// report.html.
package experiments

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"spread.dev/spread/internal/experiments/analysis"
	"spread.dev/spread/internal/experiments/plan"
	"spread.dev/spread/internal/lab"
	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/link"
	"spread.dev/spread/internal/report"
)

// Options configures a run of the plan.
type Options struct {
	Plan       *plan.Plan
	Only       []string // experiment names; all when empty
	OutDir     string   // results folder (created)
	Proxy      string   // the command line's --proxy ("" = the plan's)
	Quick      bool     // halve times and VUs (smoke runs)
	Full       bool     // also the rows marked full (sweeps)
	Spread     string   // spread binary ("" = the lab's default: this executable)
	EchoServer string   // echo-server binary ("" = the lab's default)
	Command    string   // the command line, shown in the report
	// Progress gets one line as each experiment starts and ends.
	Progress io.Writer
	// Lab runs one experiment; lab.Run when nil (tests may fake it).
	Lab func(context.Context, lab.Config) (*lab.Result, error)
}

// Outcome is one experiment's summary plus what the report draws.
type Outcome struct {
	Summary report.Summary
	Run     report.Run
}

// Run runs the selected experiments one after the other and writes the
// results; an experiment that fails is recorded as failed and the plan
// goes on. It returns the summaries in plan order.
func Run(ctx context.Context, o Options) ([]report.Summary, error) {
	if o.Plan == nil {
		return nil, errors.New("experiments: no plan")
	}
	exps, err := o.Plan.SelectFull(o.Only, o.Full)
	if err != nil {
		return nil, err
	}
	if o.Quick {
		for i := range exps {
			exps[i] = plan.Quick(exps[i])
		}
	}

	if o.Lab == nil {
		o.Lab = lab.Run
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	fmt.Fprintf(o.Progress, "%d experiments, expected time about %s\n", len(exps), plan.ExpectedTime(exps).Round(time.Minute))
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var outcomes []Outcome
	for i, e := range exps {
		if err := ctx.Err(); err != nil {
			break
		}
		proxy := o.Plan.ProxyFor(e, o.Proxy)
		fmt.Fprintf(o.Progress, "[%d/%d] %s: %s, %d VUs, %s, %s, proxy %s ...\n", i+1, len(exps), e.Name,
			e.Script, e.VUs, e.Duration.D(), replicasText(e), proxy)
		began := time.Now()
		out := runOne(ctx, o, e, proxy)
		out.Summary.WallS = time.Since(began).Seconds()
		out.Run.Summary = out.Summary
		outcomes = append(outcomes, out)
		fmt.Fprintf(o.Progress, "      %s\n", progressLine(out.Summary))
		withOverheads(outcomes, exps)
		// Keep partial results on disk after every experiment.
		if err := writeResults(o, outcomes); err != nil {
			return summaries(outcomes), err
		}
	}
	if ctx.Err() != nil {
		return summaries(outcomes), fmt.Errorf("experiments: interrupted (partial results in %s): %w", o.OutDir, ctx.Err())
	}
	return summaries(outcomes), nil
}

// withOverheads fills each row's latency overhead against its baseline
// row, once both have run without error.
func withOverheads(outs []Outcome, exps []plan.Experiment) {
	byName := map[string]*Outcome{}
	for i := range outs {
		byName[outs[i].Summary.Name] = &outs[i]
	}
	for i := range outs {
		s := &outs[i].Summary
		if i >= len(exps) || exps[i].Baseline == "" {
			continue
		}
		b, ok := byName[exps[i].Baseline]
		if !ok || b.Summary.Error != "" || s.Error != "" || b.Summary.Requests == 0 || s.Requests == 0 {
			continue
		}
		p50, p95 := s.P50Ms-b.Summary.P50Ms, s.P95Ms-b.Summary.P95Ms
		s.LatencyOverheadP50Ms, s.LatencyOverheadP95Ms = &p50, &p95
		outs[i].Run.Summary = *s
	}
}

func summaries(outs []Outcome) []report.Summary {
	s := make([]report.Summary, len(outs))
	for i, o := range outs {
		s[i] = o.Summary
	}
	return s
}

func replicasText(e plan.Experiment) string {
	events, _ := e.Timeline()
	t := fmt.Sprintf("%d replicas", e.Replicas)
	for _, ev := range events {
		switch ev.Kind {
		case "scale":
			t += fmt.Sprintf(", scale to %d at %s", ev.Replicas, ev.At.D())
		default:
			t += fmt.Sprintf(", %s at %s", ev.Kind, ev.At.D())
		}
	}
	return t
}

func progressLine(s report.Summary) string {
	if s.Error != "" {
		return fmt.Sprintf("FAILED after %.0fs: %s", s.WallS, s.Error)
	}
	t := fmt.Sprintf("%.0fs: %d req, %.0f req/s, p50 %.0f ms, p95 %.0f ms, errors %.2f%%", s.WallS, s.Requests, s.RPS, s.P50Ms, s.P95Ms, 100*s.ErrorRate)
	if s.NewPodShare != nil && s.FairShare != nil {
		t += fmt.Sprintf(", new-pod share %.2f (fair %.2f)", *s.NewPodShare, *s.FairShare)
	}
	if s.StallS != nil && s.StalledRequests != nil {
		t += fmt.Sprintf(", stall %.1fs, %d stalled requests", *s.StallS, *s.StalledRequests)
	}
	t += fmt.Sprintf(", top pod %.2f", s.TopPodShare)
	if s.Expected != "" {
		t += fmt.Sprintf(" -> expected %s: %s (%s)", s.Expected, s.Verdict, s.VerdictDetail)
	}
	return t
}

// runOne runs one experiment in the lab and analyses it.
func runOne(ctx context.Context, o Options, e plan.Experiment, proxy string) Outcome {
	s := report.Summary{Name: e.Name, Description: e.Description, Script: e.Script, Protocol: e.Protocol, Fix: e.Fix,
		Mode: e.Mode, Proxy: proxy, VUs: e.VUs, ReplicasBefore: e.Replicas, ReplicasAfter: e.ReplicasAfter(), Expected: string(e.Expect)}
	if ev, ok := e.ScaleEvent(); ok {
		v := ev.At.D().Seconds()
		s.ScaleAtS = &v
	}
	fail := func(err error) Outcome {
		s.Error = err.Error()
		s.Verdict, s.VerdictDetail = plan.VerdictFailed, s.Error
		return Outcome{Summary: s}
	}
	dir := filepath.Join(o.OutDir, e.Name)
	if err := os.RemoveAll(dir); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(dir, "spread.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()

	cfg, err := labConfig(o, e, proxy, dir)
	if err != nil {
		return fail(err)
	}
	cfg.Stdout, cfg.Stderr = logf, logf
	// The lab has its own timeouts; this one only guards against a hang.
	rctx, cancel := context.WithTimeout(ctx, e.Duration.D()+3*time.Minute)
	defer cancel()
	res, labErr := o.Lab(rctx, cfg)
	if e.ClientCmd != "" && res != nil {
		out := serverSide(e, res, s)
		if labErr != nil {
			out.Summary.Error = labErr.Error()
		}
		withCosts(&out.Summary, res)
		out.Summary.Verdict, out.Summary.VerdictDetail = e.Expect.Judge(out.Summary)
		out.Run.Summary = out.Summary
		if err := writeJSON(filepath.Join(dir, "result.json"), map[string]any{"summary": out.Summary, "lab": res}); err != nil {
			return fail(err)
		}
		return out
	}
	if labErr != nil && (res == nil || !nonEmpty(res.SamplesFile)) {
		return fail(labErr) // the lab's errors say "lab: ..." already
	}
	if res.Proxy != "" {
		s.Proxy, s.ProxyReason = res.Proxy, res.ProxyReason
	}
	if res.L7 != nil {
		s.Proxy += "+" + res.L7.Kind
		if res.L7.Replicas > 1 {
			s.Proxy += fmt.Sprintf("x%d", res.L7.Replicas)
		}
	}
	s.ExitCode = res.ExitCode
	out, err := analyse(e, res, s)
	if err != nil {
		return fail(err)
	}
	switch {
	case labErr != nil:
		// Samples were written (an interrupted run, a teardown error):
		// keep what was measured, marked as failed.
		out.Summary.Error = labErr.Error()
	case res.ExitCode != 0 && res.ExitCode != 99:
		out.Summary.Error = fmt.Sprintf("spread run exited with code %d (see %s)", res.ExitCode, filepath.Join(dir, "spread.log"))
	}
	withCosts(&out.Summary, res)
	out.Run.Summary = out.Summary
	out.Summary.Verdict, out.Summary.VerdictDetail = e.Expect.Judge(out.Summary)
	if err := writeJSON(filepath.Join(dir, "result.json"), map[string]any{"summary": out.Summary, "markers": out.Run.Markers, "lab": res}); err != nil {
		return fail(err)
	}
	return out
}

// nonEmpty says whether path is a file with something in it.
func nonEmpty(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0
}

// labConfig turns an experiment into the lab's configuration.
func labConfig(o Options, e plan.Experiment, proxy, dir string) (lab.Config, error) {
	script, clientCmd := "", ""
	var err error
	if e.ClientCmd != "" {
		pdir, err := filepath.Abs(o.Plan.Dir)
		if err != nil {
			return lab.Config{}, err
		}
		clientCmd = "cd '" + pdir + "' && " + e.ClientCmd
	} else {
		script = e.Script
		if !filepath.IsAbs(script) {
			script = filepath.Join(o.Plan.Dir, script)
		}
		script, err = filepath.Abs(script)
		if err != nil {
			return lab.Config{}, err
		}
		if _, err := os.Stat(script); err != nil {
			return lab.Config{}, fmt.Errorf("script: %w", err)
		}
	}
	env := map[string]string{"VUS": fmt.Sprint(e.VUs), "DURATION": e.Duration.D().String()}
	for k, v := range e.Env {
		env[k] = v
	}
	events, err := e.Timeline()
	if err != nil {
		return lab.Config{}, err
	}
	var labEvents []lab.Event
	for _, ev := range events {
		labEvents = append(labEvents, lab.Event{At: ev.At.D(), Kind: ev.Kind, Replicas: ev.Replicas, Pod: ev.Pod})
	}
	var clientLink link.Spec
	if e.Link != "" {
		if clientLink, err = link.Parse(e.Link); err != nil {
			return lab.Config{}, fmt.Errorf("link: %w", err)
		}
	}
	var limits cgroup.Limits
	if e.PodCPU != "" {
		if limits.MilliCPU, err = cgroup.ParseCPU(e.PodCPU); err != nil {
			return lab.Config{}, fmt.Errorf("pod_cpu: %w", err)
		}
	}
	// The lab hands Env to the script both as `-e` and as process env.
	runArgs := append([]string{"-q"}, e.RunArgs...)
	return lab.Config{
		Proxy:                     proxy,
		Replicas:                  e.Replicas,
		Events:                    labEvents,
		EchoServer:                o.EchoServer,
		PodArgs:                   e.PodArgs,
		SharedQUICKeys:            e.SharedQUICKeys,
		ConntrackUDPTimeout:       e.ConntrackUDPTimeout.D(),
		ConntrackUDPStreamTimeout: e.ConntrackUDPStreamTimeout.D(),
		Spread:                    o.Spread,
		L7Proxy:                   e.L7Proxy,
		L7ProxyReplicas:           e.L7ProxyReplicas,
		L7Upstream:                e.L7Upstream,
		ClientLink:                clientLink,
		PodLimits:                 limits,
		Script:                    script,
		ClientCmd:                 clientCmd,
		RunArgs:                   runArgs,
		Env:                       env,
		OutDir:                    dir,
	}, nil
}

// analyse reads the run's samples and fills in the summary.
func analyse(e plan.Experiment, res *lab.Result, s report.Summary) (Outcome, error) {
	tl := timelineOf(e, res)
	f, err := os.Open(res.SamplesFile)
	if err != nil {
		return Outcome{}, fmt.Errorf("samples: %w", err)
	}
	defer f.Close()
	if e.Protocol == "ws" {
		tl.opts.RequestMetric = analysis.MetricWSMessages
	}
	a, err := analysis.Read(bufio.NewReaderSize(f, 1<<20), tl.opts)
	if err != nil {
		return Outcome{}, err
	}
	base := report.Summarize(e.Name, a.Timeline)
	s.Requests, s.Failed, s.ErrorRate, s.PerPod = base.Requests, base.Failed, base.ErrorRate, base.PerPod
	s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs, s.TopPodShare = base.P50Ms, base.P95Ms, base.P99Ms, base.MaxMs, base.TopPodShare
	s.DurationS, s.RPS = base.DurationS, base.RPS
	s.NewPodShare, s.LateNewPodShare = a.NewPodShare, a.LateNewPodShare
	if a.StallMs != nil {
		v := *a.StallMs / 1000
		s.StallS = &v
		n := a.StalledRequests
		s.StalledRequests = &n
	}
	if s.ReplicasAfter > s.ReplicasBefore {
		v := float64(s.ReplicasAfter-s.ReplicasBefore) / float64(s.ReplicasAfter)
		s.FairShare = &v
	}
	if tl.scaleAt != nil {
		s.ScaleAtS = tl.scaleAt
	}
	s.ReadyAtS = tl.readyAt
	s.ConnectionsOpened = base.ConnectionsOpened
	if s.DurationS > 0 {
		s.HandshakesPerS = float64(s.ConnectionsOpened) / s.DurationS
	}
	s.ConvergenceS = a.ConvergenceS
	if len(res.Pods) > 0 {
		var n float64
		for _, p := range res.Pods {
			for _, c := range p.ServerConnections {
				n += c
			}
		}
		v := int64(n)
		s.ServerConnectionsOpened = &v
	}
	// The lab's teardown (pods stopped after the script) is not part of
	// the experiment: keep the markers up to the script's exit, or the
	// last request when the lab did not record the exit.
	end := time.Time{}
	for _, ev := range res.Events {
		if ev.Kind == "script-exited" {
			end = ev.Time
		}
	}
	if _, last, ok := a.Timeline.Span(); ok && end.IsZero() {
		end = last.Add(500 * time.Millisecond)
	}
	markers := tl.markers[:0:0]
	for _, m := range tl.markers {
		if !end.IsZero() && m.AtS < end.Sub(res.Start).Seconds() {
			markers = append(markers, m)
		}
	}
	series := a.Timeline.Series(res.Start)
	s.PerPod = withIdlePods(s.PerPod, &series, res.Pods)
	return Outcome{Summary: s, Run: report.Run{Summary: s, Series: series, Markers: markers}}, nil
}

// withIdlePods lists every pod the lab ran, also one that served nothing:
// a new pod with 0 requests is the keep-alive experiment's headline, and a
// pod missing from per_pod, the table and the chart reads as "not there"
// rather than "idle". Such a pod gets a flat zero line on the chart.
func withIdlePods(perPod map[string]int64, series *report.Series, pods []lab.PodInfo) map[string]int64 {
	if perPod == nil {
		perPod = map[string]int64{}
	}
	for _, p := range pods {
		if p.Name == "" {
			continue
		}
		if _, ok := perPod[p.Name]; ok {
			continue
		}
		perPod[p.Name] = 0
		if series != nil && len(series.X) > 0 {
			if series.PodRPS == nil {
				series.PodRPS = map[string][]float64{}
			}
			series.Pods = append(series.Pods, p.Name)
			series.PodRPS[p.Name] = make([]float64, len(series.X))
		}
	}
	return perPod
}

// runTimeline is what the lab's recorded events say about the run.
type runTimeline struct {
	opts    analysis.Options
	scaleAt *float64 // seconds from the start
	readyAt *float64
	markers []report.Marker
}

// markedKinds are the lab events drawn on the charts.
var markedKinds = map[string]bool{"scale": true, "pod-added": true, "pod-removed": true, "pod-killed": true,
	"pod-draining": true, "kill": true, "rolling-restart": true}

func timelineOf(e plan.Experiment, res *lab.Result) runTimeline {
	var t runTimeline
	start := res.Start
	rel := func(at time.Time) float64 { return at.Sub(start).Seconds() }
	var scaleTime time.Time
	for _, ev := range res.Events {
		if ev.Kind == "scale" {
			scaleTime = ev.Time
			break
		}
	}
	planned, hasScale := e.ScaleEvent()
	if scaleTime.IsZero() && hasScale {
		scaleTime = start.Add(planned.At.D())
	}
	for _, ev := range res.Events {
		// Initial pods joined before the script started: not events of
		// the experiment.
		if !markedKinds[ev.Kind] || !ev.Time.After(start) {
			continue
		}
		label := ev.Kind
		switch ev.Kind {
		case "scale":
			label = "scale"
			if ev.Detail != "" {
				label += " " + ev.Detail
			}
		case "pod-added":
			label = "+" + ev.Pod + " ready"
		case "pod-removed":
			label = "-" + ev.Pod
		default:
			if ev.Pod != "" {
				label += " " + ev.Pod
			}
		}
		kind := ev.Kind
		t.markers = append(t.markers, report.Marker{AtS: rel(ev.Time), Label: label, Kind: kind})
	}
	if !scaleTime.IsZero() {
		v := rel(scaleTime)
		t.scaleAt = &v
	}
	if !hasScale || scaleTime.IsZero() {
		return t
	}
	if e.ReplicasAfter() > e.Replicas {
		var ready time.Time
		for _, ev := range res.Events {
			if ev.Kind == "pod-added" && !ev.Time.Before(scaleTime) {
				t.opts.NewPods = append(t.opts.NewPods, ev.Pod)
				if ev.Time.After(ready) {
					ready = ev.Time
				}
			}
		}
		if !ready.IsZero() {
			t.opts.CountFrom = ready.Add(e.Settle.D())
			t.opts.ReadyAt = ready
			t.opts.Fair = float64(e.ReplicasAfter()-e.Replicas) / float64(e.ReplicasAfter())
			v := rel(ready)
			t.readyAt = &v
		}
	}
	if e.ReplicasAfter() < e.Replicas {
		for _, ev := range res.Events {
			if ev.Kind == "pod-removed" && !ev.Time.Before(scaleTime) {
				t.opts.StallFrom = ev.Time
				break
			}
		}
		if t.opts.StallFrom.IsZero() {
			t.opts.StallFrom = scaleTime
		}
	}
	return t
}

// writeResults writes summary.json, summary.md and report.html.
func writeResults(o Options, outs []Outcome) error {
	sums := summaries(outs)
	if err := writeJSON(filepath.Join(o.OutDir, "summary.json"), sums); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "summary.md"), []byte(Markdown(sums, o.Command)), 0o644); err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	r := report.Report{Title: "spread experiments: which client and server behaviours spread load onto new pods", Command: o.Command,
		Generated: time.Now(), Notes: []string{notes}}
	for _, out := range outs {
		r.Runs = append(r.Runs, out.Run)
	}
	if err := report.WriteFile(filepath.Join(o.OutDir, "report.html"), r); err != nil {
		return fmt.Errorf("experiments: report: %w", err)
	}
	return nil
}

const notes = "new-pod share: share of requests served by the pods added at scale-up, from their readiness plus a settle time to the end; " +
	"fair share: added pods / all pods. top pod: the busiest pod's share of the whole run. stall: after a scale-down, the longest request that ended after the pod left; " +
	"stalled: requests after the scale-down that took 2 s or more (about one per client stuck on the lost connection). " +
	"Charts: requests/s per pod (the write-up's graph), with the scale event and pod readiness marked; latency p50/p95; failed requests/s."

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("experiments: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	return nil
}

// Markdown renders the summaries as a table (results/summary.md and the
// final table of `spread experiments`).
func Markdown(sums []report.Summary, command string) string {
	var b strings.Builder
	if command != "" {
		fmt.Fprintf(&b, "Made by `%s`.\n\n", command)
	}
	b.WriteString("| experiment | proto | fix | mode | proxy | rtt ms | replicas | req | req/s | p50 ms | p95 ms | p99 ms | +p50 ms | errors | new-pod share | fair | conv. s | top pod | stall s | stalled | conns | hs/s | client µs/req | server µs/req | proxy µs/req | expected | verdict |\n")
	b.WriteString("|---|---|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	opt := func(v *float64, prec int) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.*f", prec, *v)
	}
	for _, s := range sums {
		repl := fmt.Sprint(s.ReplicasBefore)
		if s.ReplicasAfter != s.ReplicasBefore {
			repl += fmt.Sprintf("→%d", s.ReplicasAfter)
			if s.ScaleAtS != nil {
				repl += fmt.Sprintf(" @%.0fs", *s.ScaleAtS)
			}
		}
		verdict := s.Verdict
		if s.Error != "" {
			verdict += ": " + s.Error
		}
		stalled := "–"
		if s.StalledRequests != nil {
			stalled = fmt.Sprint(*s.StalledRequests)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.1f | %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %.2f%% | %s | %s | %s | %.3f | %s | %s | %d | %.1f | %s | %s | %s | %s | %s |\n",
			s.Name, s.Protocol, s.Fix, s.Mode, s.Proxy, s.RTTMs, repl, s.Requests, s.RPS, s.P50Ms, s.P95Ms, s.P99Ms, opt(s.LatencyOverheadP50Ms, 1), 100*s.ErrorRate,
			opt(s.NewPodShare, 3), opt(s.FairShare, 2), opt(s.ConvergenceS, 1), s.TopPodShare, opt(s.StallS, 1), stalled, s.ConnectionsOpened, s.HandshakesPerS,
			opt(s.ClientCPUUsPerReq, 0), opt(s.ServerCPUUsPerReq, 0), opt(s.ProxyCPUUsPerReq, 0), s.Expected, verdict)
	}
	return b.String()
}

// withCosts fills the cost columns from what the lab measured: the
// client's CPU (spread's process), the pods' (their cgroups), the proxy
// tier's (/proc), each per request served, and the link's RTT.
func withCosts(s *report.Summary, res *lab.Result) {
	// rtt_ms is the emulated link's round trip as the lab measured it
	// (TCP connects through the Service); 0 on plain veths, whose ~0.05 ms
	// is not a link anyone would plan for.
	if res.Link != nil && res.Link.ExpectedRTTms > 0 {
		s.RTTMs = res.Link.MeasuredRTTms
		if s.RTTMs == 0 {
			s.RTTMs = res.Link.ExpectedRTTms
		}
	}
	if s.Requests <= 0 {
		return
	}
	per := func(sec float64) *float64 {
		v := sec * 1e6 / float64(s.Requests)
		return &v
	}
	if res.ClientCPUSeconds != nil {
		s.ClientCPUUsPerReq = per(*res.ClientCPUSeconds)
	}
	var server float64
	seen := false
	for _, st := range res.PodStats {
		if st.CPUSeconds != nil {
			server += *st.CPUSeconds
			seen = true
		}
	}
	if seen {
		s.ServerCPUUsPerReq = per(server)
	}
	if res.L7 != nil {
		s.ProxyCPUUsPerReq = per(res.L7.CPUSeconds)
	}
}

// serverSide summarises a foreign client's run (client_cmd) from the pods'
// own counters: requests per pod, and the added pods' share of what was
// served from their readiness plus the settle time to the end (the pods'
// counters are sampled every second). No latency: the client's own
// report (in spread.log) has it.
func serverSide(e plan.Experiment, res *lab.Result, s report.Summary) Outcome {
	tl := timelineOf(e, res)
	s.PerPod = map[string]int64{}
	var total float64
	for name, st := range res.PodStats {
		if st.Requests != nil {
			s.PerPod[name] = int64(*st.Requests)
			total += *st.Requests
		}
	}
	s.Requests = int64(total)
	var end float64
	for _, ev := range res.Events {
		if ev.Kind == "script-exited" {
			end = ev.AtSeconds
		}
	}
	s.DurationS = end
	if end > 0 {
		s.RPS = total / end
	}
	var top int64
	for _, n := range s.PerPod {
		top = max(top, n)
	}
	if total > 0 {
		s.TopPodShare = float64(top) / total
	}
	if tl.readyAt != nil && s.ReplicasAfter > s.ReplicasBefore {
		from := *tl.readyAt + e.Settle.D().Seconds()
		isNew := map[string]bool{}
		for _, p := range tl.opts.NewPods {
			isNew[p] = true
		}
		var all, added float64
		for name, st := range res.PodStats {
			served := servedSince(st, from)
			all += served
			if isNew[name] {
				added += served
			}
		}
		if all > 0 {
			v := added / all
			s.NewPodShare = &v
		}
		fair := float64(s.ReplicasAfter-s.ReplicasBefore) / float64(s.ReplicasAfter)
		s.FairShare = &fair
		s.ReadyAtS = tl.readyAt
	}
	s.ScaleAtS = tl.scaleAt
	return Outcome{Summary: s, Run: report.Run{Summary: s, Markers: tl.markers}}
}

// servedSince is how many requests a pod served from at (seconds from the
// start) on, from its sampled cumulative counter.
func servedSince(st lab.PodStats, at float64) float64 {
	if st.Requests == nil {
		return 0
	}
	var before float64
	for _, smp := range st.OverTime {
		if smp.AtSeconds > at {
			break
		}
		if smp.Requests != nil {
			before = *smp.Requests
		}
	}
	return *st.Requests - before
}
