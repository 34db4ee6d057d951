// Package metrics defines echo-server's Prometheus metrics, the names the
// lab and the dashboards scrape.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector of one server.
type Metrics struct {
	Registry        *prometheus.Registry
	Requests        *prometheus.CounterVec   // echo_requests_total{proto,code}
	Inflight        prometheus.Gauge         // echo_inflight_requests
	Queued          prometheus.Gauge         // echo_queued_requests
	OpenConns       *prometheus.GaugeVec     // echo_open_connections{proto}
	ConnsOpened     *prometheus.CounterVec   // echo_connections_opened_total{proto}
	ConnsRecycled   *prometheus.CounterVec   // echo_connections_recycled_total{proto,reason}
	RequestDuration *prometheus.HistogramVec // echo_request_duration_seconds{proto}
	Draining        prometheus.Gauge         // echo_draining
}

// New registers the collectors (plus Go and process collectors) on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_requests_total",
			Help: "Echo requests answered (GET /; probes excluded), by protocol (h1, h2, h3) and status code.",
		}, []string{"proto", "code"}),
		Inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "echo_inflight_requests",
			Help: "Echo requests holding a capacity slot (in their delay or CPU work).",
		}),
		Queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "echo_queued_requests",
			Help: "Echo requests waiting for a capacity slot (--max-inflight).",
		}),
		OpenConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "echo_open_connections",
			Help: "Open client connections that carried at least one request, by protocol.",
		}, []string{"proto"}),
		ConnsOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_connections_opened_total",
			Help: "Client connections that carried at least one request, by protocol.",
		}, []string{"proto"}),
		ConnsRecycled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_connections_recycled_total",
			Help: "Connections the server asked to close (Connection: close, GOAWAY), by protocol and reason (max_requests, max_age, shutdown).",
		}, []string{"proto", "reason"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "echo_request_duration_seconds",
			Help:    "Time from the start of an echo request to its answer, queueing included.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2, 3, 5, 10, 30, 60},
		}, []string{"proto"}),
		Draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "echo_draining",
			Help: "1 once a shutdown signal was received, else 0.",
		}),
	}
	m.Registry.MustRegister(
		m.Requests, m.Inflight, m.Queued, m.OpenConns, m.ConnsOpened,
		m.ConnsRecycled, m.RequestDuration, m.Draining,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Show every protocol from the start, so rate() works on the first scrape.
	for _, p := range []string{"h1", "h2", "h3"} {
		m.OpenConns.WithLabelValues(p)
		m.ConnsOpened.WithLabelValues(p)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
