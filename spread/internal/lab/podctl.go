package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/pods"
)

// podState is one pod's lifecycle as the lab sees it.
type podState struct {
	pod      *pods.Pod
	info     PodInfo
	ready    bool // passed its last probe
	stopping bool // being terminated: never an endpoint again
	readyCh  chan struct{}
	readyOne sync.Once
	logFile  *os.File
	cg       *cgroup.Pod // nil without cgroups
	logs     *logCounter
	stats    PodStats
	scraped  bool // /metrics answered at least once
	// readiness bookkeeping (kubelet's consecutive thresholds)
	passes, fails int
	serving       bool // terminating, yet passing readiness
}

// startPod launches one more pod and its readiness prober.
func (l *lab) startPod() (*podState, error) {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil, errors.New("lab: shutting down")
	}
	l.nextPod++
	name := "echo-server-" + strconv.Itoa(l.nextPod)
	l.mu.Unlock()

	spec, err := l.svc.nextSpec(name)
	if err != nil {
		return nil, err
	}
	spec.CertFile, spec.KeyFile, spec.CAFile, spec.QUICKeysFile = l.certFile, l.keyFile, l.caFile, l.quicKeys
	var argv []string
	if l.cfg.PodCommand != "" {
		argv, err = pods.TemplateArgs(l.cfg.PodCommand, spec)
		if err != nil {
			return nil, err
		}
	} else {
		argv = pods.EchoServerArgs(l.echoServer, spec, l.cfg.PodArgs)
	}
	logPath := filepath.Join(l.cfg.OutDir, "pods", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("lab: pod log: %w", err)
	}
	argv = l.svc.wrapPod(name, argv)
	var pcg *cgroup.Pod
	if l.cg != nil {
		// Outermost, so the namespace tools and the pod itself all run
		// inside the pod's cgroup from their first instruction.
		pcg, err = l.cg.NewPod(name, l.cfg.PodLimits)
		if err != nil {
			logFile.Close()
			return nil, fmt.Errorf("lab: pod %s: %w", name, err)
		}
		argv = pcg.Wrap(argv)
	}
	// Python servers (Hypercorn, gunicorn) block-buffer stdout into a file:
	// their access-log lines would reach the log (and the counting) only at
	// exit, or never when they die by a signal.
	p, err := pods.Start(spec, argv, []string{"PYTHONUNBUFFERED=1"}, logFile)
	if err != nil {
		logFile.Close()
		if pcg != nil {
			_ = pcg.Delete()
		}
		return nil, err
	}
	ps := &podState{pod: p, logFile: logFile, readyCh: make(chan struct{}), cg: pcg, logs: &logCounter{path: logPath, skip: map[string]bool{l.cfg.Readiness.Path: true, l.cfg.Liveness.Path: true, "/metrics": true}},
		info: PodInfo{Name: name, Address: spec.IP, Started: p.Started}, stats: PodStats{Address: spec.IP}}
	l.mu.Lock()
	l.podList = append(l.podList, ps)
	l.podsByName[name] = ps
	l.mu.Unlock()
	l.record("pod-started", name, fmt.Sprintf("%s pid %d", spec.IP, p.Pid()))
	l.wg.Add(1)
	go l.watchPod(ps)
	return ps, nil
}

// watchPod runs the pod's readiness probe until the pod exits, adding and
// removing its endpoint as kubelet + EndpointSlice controller + kube-proxy
// would, and starts its liveness prober.
func (l *lab) watchPod(ps *podState) {
	defer l.wg.Done()
	defer ps.logFile.Close()
	rp := l.cfg.Readiness
	url := "http://" + net.JoinHostPort(ps.pod.IP, strconv.Itoa(ps.pod.HTTPPort)) + rp.Path
	if l.cfg.Liveness.Path != "" {
		l.wg.Add(1)
		go l.livenessLoop(ps)
	}
	// kubelet probes nothing before initialDelaySeconds.
	if !l.sleepOrExit(ps, rp.InitialDelay) {
		l.podExited(ps)
		return
	}
	t := time.NewTicker(rp.Period)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), rp.Timeout)
		err := pods.Probe(ctx, l.svc.httpClient(), url)
		cancel()
		l.readinessResult(ps, err)
		select {
		case <-ps.pod.Done():
			l.podExited(ps)
			return
		case <-t.C:
		}
	}
}

// sleepOrExit waits d; false if the pod exited meanwhile.
func (l *lab) sleepOrExit(ps *podState, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-ps.pod.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// readinessResult applies one probe result with kubelet's thresholds:
// ready after Success consecutive passes, not ready after Failure
// consecutive failures. A terminating pod keeps being probed: kube-proxy
// still uses it ("serving") when no ready endpoint is left.
func (l *lab) readinessResult(ps *podState, err error) {
	rp := l.cfg.Readiness
	l.mu.Lock()
	if err == nil {
		ps.passes++
		ps.fails = 0
	} else {
		ps.fails++
		ps.passes = 0
	}
	if ps.stopping {
		was := ps.serving
		switch {
		case err == nil && ps.passes >= rp.Success:
			ps.serving = true
		case err != nil && ps.fails >= rp.Failure:
			ps.serving = false
		}
		changed := was != ps.serving
		l.mu.Unlock()
		if changed {
			l.syncEndpoints("terminating pod serving=" + strconv.FormatBool(!was))
		}
		return
	}
	switch {
	case err == nil && !ps.ready && ps.passes >= rp.Success:
		ps.ready = true
		first := ps.info.Ready.IsZero()
		if first {
			ps.info.Ready = time.Now()
		}
		l.mu.Unlock()
		if first {
			l.record("pod-ready", ps.info.Name, "")
		}
		l.syncEndpoints("pod ready")
		l.record("pod-added", ps.info.Name, fmt.Sprintf("endpoint %s (ports tcp %d/%d, udp %d)", ps.pod.IP, ps.pod.HTTPPort, ps.pod.HTTPSPort, ps.pod.H3Port))
		ps.readyOne.Do(func() { close(ps.readyCh) })
	case err != nil && ps.ready && ps.fails >= rp.Failure:
		ps.ready = false
		l.mu.Unlock()
		l.syncEndpoints("readiness failed")
		l.record("pod-removed", ps.info.Name, fmt.Sprintf("readiness failed %d times: %v", ps.fails, err))
	default:
		l.mu.Unlock()
	}
}

// livenessLoop runs the liveness probe; after Failure consecutive failures
// the container is restarted in place (same namespace and address), as
// kubelet does, and probing starts over after InitialDelay.
func (l *lab) livenessLoop(ps *podState) {
	defer l.wg.Done()
	lp := l.cfg.Liveness
	url := "http://" + net.JoinHostPort(ps.pod.IP, strconv.Itoa(ps.pod.HTTPPort)) + lp.Path
	for {
		if !l.sleepOrExit(ps, lp.InitialDelay) {
			return
		}
		fails := 0
		for fails < lp.Failure {
			ctx, cancel := context.WithTimeout(context.Background(), lp.Timeout)
			err := pods.Probe(ctx, l.svc.httpClient(), url)
			cancel()
			if err == nil {
				fails = 0
			} else {
				fails++
			}
			if !l.sleepOrExit(ps, lp.Period) {
				return
			}
		}
		l.mu.Lock()
		stopping := ps.stopping
		l.mu.Unlock()
		if stopping {
			return // a terminating pod is not restarted
		}
		l.restartPod(ps, fmt.Sprintf("liveness failed %d times", fails))
	}
}

// restartPod replaces the pod's process: out of the endpoints (its
// readiness starts over), SIGTERM with the grace period, then started again.
func (l *lab) restartPod(ps *podState, why string) {
	l.mu.Lock()
	wasReady := ps.ready
	ps.ready, ps.passes, ps.fails = false, 0, 0
	l.mu.Unlock()
	if wasReady {
		l.syncEndpoints("pod restarting")
		l.record("pod-removed", ps.info.Name, why)
	}
	l.record("pod-restarting", ps.info.Name, why)
	if err := ps.pod.Restart(l.cfg.StopGrace); err != nil {
		l.record("error", ps.info.Name, "restart: "+err.Error())
		return
	}
	l.mu.Lock()
	ps.info.Restarts = ps.pod.Restarts()
	l.mu.Unlock()
	l.record("pod-restarted", ps.info.Name, fmt.Sprintf("pid %d, restart %d", ps.pod.Pid(), ps.pod.Restarts()))
}

// podExited cleans up after a pod whose process is gone for good.
func (l *lab) podExited(ps *podState) {
	// Last counters while its cgroup still holds its CPU time.
	l.finalSample(ps)
	if ps.cg != nil {
		if err := ps.cg.Delete(); err != nil {
			l.record("error", ps.info.Name, "remove pod cgroup: "+err.Error())
		}
	}
	// The pod is gone: so is its address (its network namespace).
	if err := l.svc.podGone(ps.info.Name); err != nil {
		l.record("error", ps.info.Name, "remove pod network: "+err.Error())
	}
	l.mu.Lock()
	// A killed pod is still "ready" (nobody told the Service); a stopped
	// one left the ready set already and may only be serving.
	wasReady := ps.ready
	wasEndpoint := ps.ready || ps.serving
	stopping := ps.stopping
	ps.ready, ps.serving = false, false
	if ps.info.Stopped.IsZero() {
		ps.info.Stopped = time.Now()
	}
	l.mu.Unlock()
	if wasEndpoint {
		l.syncEndpoints("pod exited")
	}
	if wasReady {
		l.record("pod-removed", ps.info.Name, "process exited")
	}
	if !stopping {
		detail := "exit 0"
		if err := ps.pod.Err(); err != nil {
			detail = err.Error()
		}
		l.record("pod-exited", ps.info.Name, detail)
	}
}

// syncEndpoints programs the Service with the pods that are ready and not
// stopping, deleting UDP flows of endpoints that left.
func (l *lab) syncEndpoints(why string) {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	var ready []pods.Spec
	now := map[string]pods.Spec{}
	for _, ps := range l.podList {
		if ps.ready && !ps.stopping {
			ready = append(ready, ps.pod.Spec)
			now[ps.info.Name] = ps.pod.Spec
		}
	}
	// kube-proxy since 1.28 (ProxyTerminatingEndpoints): when no endpoint
	// is ready, terminating endpoints that still pass readiness (serving)
	// take the traffic rather than dropping it.
	fallback := false
	if len(ready) == 0 {
		for _, ps := range l.podList {
			if ps.stopping && ps.serving {
				ready = append(ready, ps.pod.Spec)
				now[ps.info.Name] = ps.pod.Spec
				fallback = true
			}
		}
	}
	l.mu.Unlock()
	if fallback != l.usingTerminating {
		l.usingTerminating = fallback
		l.record("endpoints", "", fmt.Sprintf("terminating endpoints in use: %v", fallback))
	}
	var removed []pods.Spec
	for name, spec := range l.applied {
		if _, ok := now[name]; !ok {
			removed = append(removed, spec)
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Name < removed[j].Name })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l.l7 != nil {
		// The Service keeps pointing at the proxy pods; the pods are
		// the proxies' backends.
		if err := l.l7.setBackends(ctx, ready, l.cfg.L7Upstream); err != nil {
			l.record("error", "", fmt.Sprintf("%s: proxy backends: %v", why, err))
			return
		}
		l.record("proxy-backends", "", l.l7.backendNames(ready))
		l.applied = now
		return
	}
	if err := l.svc.setEndpoints(ctx, ready, removed); err != nil {
		l.record("error", "", fmt.Sprintf("%s: %v", why, err))
		return
	}
	l.applied = now
	l.dnsEndpoints(ready)
}

// stopPod terminates a pod gracefully: endpoint removed first (as the
// EndpointSlice controller does for a terminating pod), counters scraped,
// then SIGTERM and up to StopGrace to drain before SIGKILL.
func (l *lab) stopPod(ps *podState, grace time.Duration, hurry bool, why string) {
	l.mu.Lock()
	if ps.stopping {
		l.mu.Unlock()
		return
	}
	ps.stopping = true
	wasReady := ps.ready
	ps.ready = false
	// Until its next probes say otherwise it still serves (terminating,
	// serving=true in its EndpointSlice).
	ps.serving = wasReady
	l.mu.Unlock()
	select {
	case <-ps.pod.Done():
		ps.pod.Stop(0, false) // already gone: just reap its process group
		return
	default:
	}
	if wasReady {
		l.syncEndpoints("pod terminating")
		l.record("pod-removed", ps.info.Name, why)
	}
	l.scrape(ps)
	l.record("pod-draining", ps.info.Name, "SIGTERM")
	ps.pod.Stop(grace, hurry)
	l.mu.Lock()
	ps.info.Stopped = time.Now()
	l.mu.Unlock()
	l.record("pod-stopped", ps.info.Name, exitDetail(ps.pod.Err()))
}

// killPod SIGKILLs a pod (no drain); its watcher sees the exit and removes
// the endpoint, as the EndpointSlice controller does once the pod is gone.
func (l *lab) killPod(ps *podState) {
	select {
	case <-ps.pod.Done():
		// Already gone (stopped by a scale-down or a rolling restart):
		// say so rather than pretend to kill it.
		l.record("kill-skipped", ps.info.Name, "pod already stopped")
		return
	default:
	}
	l.scrape(ps)
	l.mu.Lock()
	ps.stopping = true // the watcher still removes it when it is gone
	l.mu.Unlock()
	l.record("pod-killed", ps.info.Name, "SIGKILL")
	ps.pod.Signal(syscall.SIGKILL)
	<-ps.pod.Done()
}

func exitDetail(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// scrape reads the pod's server counters; the last good values are kept
// when the pod cannot answer (killed, or a template pod without metrics).
func (l *lab) scrape(ps *podState) {
	url := "http://" + net.JoinHostPort(ps.pod.IP, strconv.Itoa(ps.pod.MetricsPort)) + "/metrics"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := pods.Scrape(ctx, l.svc.httpClient(), url)
	if err != nil {
		return
	}
	l.mu.Lock()
	ps.info.ServerRequests = c.Requests
	ps.info.ServerConnections = c.Connections
	ps.scraped = true
	l.mu.Unlock()
}

// startInitialPods starts Replicas pods and waits until all are endpoints.
func (l *lab) startInitialPods(ctx context.Context) error {
	var started []*podState
	for i := 0; i < l.cfg.Replicas; i++ {
		ps, err := l.startPod()
		if err != nil {
			return err
		}
		started = append(started, ps)
	}
	timeout := time.NewTimer(l.cfg.ReadyTimeout)
	defer timeout.Stop()
	for _, ps := range started {
		select {
		case <-ps.readyCh:
		case <-ps.pod.Done():
			return fmt.Errorf("lab: pod %s exited before it was ready (%v); see %s", ps.info.Name, ps.pod.Err(), filepath.Join(l.cfg.OutDir, "pods", ps.info.Name+".log"))
		case <-timeout.C:
			return fmt.Errorf("lab: pod %s not ready after %s; see %s", ps.info.Name, l.cfg.ReadyTimeout, filepath.Join(l.cfg.OutDir, "pods", ps.info.Name+".log"))
		case <-ctx.Done():
			return fmt.Errorf("lab: interrupted while starting pods: %w", ctx.Err())
		}
	}
	return nil
}

// activePods lists pods that run and are not being stopped, oldest first.
func (l *lab) activePods() []*podState {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*podState
	for _, ps := range l.podList {
		select {
		case <-ps.pod.Done():
			continue
		default:
		}
		if !ps.stopping {
			out = append(out, ps)
		}
	}
	return out
}

// cleanup stops every pod (scraping it first), the Service and the script's
// leftovers. It runs on every exit path of Run.
func (l *lab) cleanup() error {
	l.mu.Lock()
	l.closing = true
	all := append([]*podState(nil), l.podList...)
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, ps := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At the end nobody sends traffic any more: short grace.
			l.stopPod(ps, 3*time.Second, true, "lab ending")
		}()
	}
	wg.Wait()
	if l.scriptPgid > 0 {
		_ = syscall.Kill(-l.scriptPgid, syscall.SIGKILL)
	}
	l.wg.Wait()
	var errs []error
	if ns, ok := l.svc.(*nodeService); ok && l.res.Link != nil {
		l.res.Link.LostPackets = ns.linkInfo().LostPackets
	}
	if err := l.dns.close(); err != nil {
		errs = append(errs, fmt.Errorf("lab: cleanup: %w", err))
	}
	if l.svc != nil {
		if err := l.svc.close(); err != nil {
			errs = append(errs, fmt.Errorf("lab: cleanup: %w", err))
		}
	}
	if l.cg != nil {
		if err := l.cg.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("lab: cleanup: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.record("lab-stopped", "", "")
	return nil
}
