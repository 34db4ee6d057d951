package report

// Summary is one experiment's (or one run's) results: a row of
// results/summary.json and of the report's summary table.
type Summary struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Script      string `json:"script,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	Mode        string `json:"mode,omitempty"`
	Proxy       string `json:"proxy,omitempty"`
	ProxyReason string `json:"proxy_reason,omitempty"`

	ReplicasBefore int      `json:"replicas_before"`
	ReplicasAfter  int      `json:"replicas_after"`
	ScaleAtS       *float64 `json:"scale_at_s"`
	ReadyAtS       *float64 `json:"ready_at_s,omitempty"` // when the last added pod joined the Service
	DurationS      float64  `json:"duration_s"`

	Requests  int64   `json:"requests"`
	RPS       float64 `json:"rps"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	MaxMs     float64 `json:"max_ms"`
	ErrorRate float64 `json:"error_rate"`
	Failed    int64   `json:"failed"`

	PerPod map[string]int64 `json:"per_pod"`
	// NewPodShare: share of requests served by the pods added at scale-up,
	// from their readiness plus a settle time to the end of the run.
	NewPodShare *float64 `json:"new_pod_share"`
	// LateNewPodShare: the same over the last third of the run, to see
	// convergence under connection recycling.
	LateNewPodShare *float64 `json:"late_new_pod_share,omitempty"`
	// FairShare: added pods / all pods after the scale-up.
	FairShare *float64 `json:"fair_share"`
	// TopPodShare: the busiest pod's share of the whole run.
	TopPodShare float64 `json:"top_pod_share"`
	// StallS: after a scale-down, the longest request that ended after the
	// pod left (seconds): ~the client's idle timeout when connections hang.
	StallS *float64 `json:"stall_s,omitempty"`
	// StalledRequests: after a scale-down, requests that took >= 2 s
	// (about one per client stuck on a connection to the removed pod).
	StalledRequests *int64 `json:"stalled_requests,omitempty"`
	// VUs is the run's VU count (the scale of StalledRequests).
	VUs int `json:"vus,omitempty"`

	// ConnectionsOpened: connections the client opened: http3_connections_opened
	// for HTTP/3, else requests whose http_req_connecting was positive.
	ConnectionsOpened int64 `json:"connections_opened"`
	// ServerConnectionsOpened: the pods' echo_connections_opened_total (all
	// protocols, readiness probes included) when the lab scraped it.
	ServerConnectionsOpened *int64 `json:"server_connections_opened,omitempty"`

	// The fix this row measures and what it costs (DESIGN.md section 4).
	Fix   string  `json:"fix,omitempty"`
	RTTMs float64 `json:"rtt_ms"` // the emulated round trip the run had (0: loopback)
	P99Ms float64 `json:"p99_ms"`
	// LatencyOverhead*: this row's latency minus its baseline's (the
	// keep-alive row at the same load and link); nil without a baseline.
	LatencyOverheadP50Ms *float64 `json:"latency_overhead_p50_ms"`
	LatencyOverheadP95Ms *float64 `json:"latency_overhead_p95_ms"`
	// CPU per request: the client (spread's process), the pods (their
	// cgroups, else their processes) and proxy pods, in microseconds; nil
	// where the lab had no reading.
	ClientCPUUsPerReq *float64 `json:"client_cpu_us_per_req"`
	ServerCPUUsPerReq *float64 `json:"server_cpu_us_per_req"`
	ProxyCPUUsPerReq  *float64 `json:"proxy_cpu_us_per_req"`
	// HandshakesPerS: connections the client opened per second of the run.
	HandshakesPerS float64 `json:"handshakes_per_s"`
	// ConvergenceS: from the added pod's readiness until it serves >= 80%
	// of its fair share over a 2 s window; nil if never (or no scale-up).
	ConvergenceS *float64 `json:"convergence_s"`

	Expected      string  `json:"expected,omitempty"`
	Verdict       string  `json:"verdict,omitempty"` // "as-expected", "unexpected", "failed"
	VerdictDetail string  `json:"verdict_detail,omitempty"`
	ExitCode      int     `json:"exit_code"`
	WallS         float64 `json:"wall_s,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// Summarize computes the run-level numbers a timeline can give on its own.
func Summarize(name string, tl *Timeline) Summary {
	s := Summary{Name: name, Requests: tl.Requests(), Failed: tl.Failed(), ErrorRate: tl.ErrorRate(), PerPod: tl.PerPod()}
	s.P50Ms = tl.Latency().Quantile(0.50)
	s.P95Ms = tl.Latency().Quantile(0.95)
	s.P99Ms = tl.Latency().Quantile(0.99)
	s.MaxMs = tl.Latency().Max()
	if first, last, ok := tl.Span(); ok {
		s.DurationS = last.Sub(first).Seconds()
		if s.DurationS > 0 {
			s.RPS = float64(s.Requests) / s.DurationS
		}
	}
	for _, n := range s.PerPod {
		if s.Requests > 0 && float64(n)/float64(s.Requests) > s.TopPodShare {
			s.TopPodShare = float64(n) / float64(s.Requests)
		}
	}
	s.ReplicasBefore, s.ReplicasAfter = len(s.PerPod), len(s.PerPod)
	s.ConnectionsOpened = tl.Connects()
	if c := tl.H3ConnectionsOpened(); c > 0 {
		s.ConnectionsOpened = int64(c)
	}
	return s
}
