// Package prometheusrw is the `--out prometheus-rw[=URL]` output: it keeps
// running aggregates of every metric and tag set in memory and pushes them
// with Prometheus remote write (v1: protobuf + snappy) every few seconds
// and once more at the end, under k6's names (k6_ prefix, counters _total,
// rates _rate, trends as one gauge per stat in seconds, or native
// histograms), so dashboards made for k6 work on spread's data.
package prometheusrw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// k6 names this output experimental-prometheus-rw; both names work.

// Defaults, as k6's output has them.
const (
	DefaultURL          = "http://localhost:9090/api/v1/write"
	DefaultTrendStats   = "p(99)"
	DefaultPushInterval = 5 * time.Second
	// stopTimeout bounds the final push (with its retries) at the end.
	stopTimeout = 15 * time.Second
)

// Config is what the output reads from --out and K6_PROMETHEUS_RW_* settings.
type Config struct {
	URL             string
	TrendStats      []TrendStat
	NativeHistogram bool
	PushInterval    time.Duration
	InsecureTLS     bool
	Username        string
	Password        string
	BearerToken     string
	Headers         map[string]string
	ClientCert      string // PEM files for mutual TLS
	ClientKey       string
	StaleMarkers    bool // at the end, mark every series stale
}

// ParseConfig builds a Config from the --out argument and the environment.
func ParseConfig(arg string, env map[string]string) (Config, error) {
	c := Config{URL: strings.TrimSpace(arg), PushInterval: DefaultPushInterval}
	if c.URL == "" {
		c.URL = env["K6_PROMETHEUS_RW_SERVER_URL"]
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return c, fmt.Errorf("server URL %q: want http:// or https://", c.URL)
	}
	stats := env["K6_PROMETHEUS_RW_TREND_STATS"]
	if strings.TrimSpace(stats) == "" {
		stats = DefaultTrendStats
	}
	var err error
	if c.TrendStats, err = ParseTrendStats(stats); err != nil {
		return c, fmt.Errorf("K6_PROMETHEUS_RW_TREND_STATS: %w", err)
	}
	if v := env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"]; v != "" {
		if c.NativeHistogram, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=%q: want true or false", v)
		}
	}
	if v := env["K6_PROMETHEUS_RW_PUSH_INTERVAL"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("K6_PROMETHEUS_RW_PUSH_INTERVAL=%q: want a positive duration such as 5s", v)
		}
		c.PushInterval = d
	}
	if v := env["K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY"]; v != "" {
		if c.InsecureTLS, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("K6_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY=%q: want true or false", v)
		}
	}
	c.Username, c.Password = env["K6_PROMETHEUS_RW_USERNAME"], env["K6_PROMETHEUS_RW_PASSWORD"]
	c.BearerToken = env["K6_PROMETHEUS_RW_BEARER_TOKEN"]
	if c.BearerToken != "" && (c.Username != "" || c.Password != "") {
		return c, fmt.Errorf("K6_PROMETHEUS_RW_BEARER_TOKEN and K6_PROMETHEUS_RW_USERNAME/PASSWORD exclude each other")
	}
	c.ClientCert, c.ClientKey = env["K6_PROMETHEUS_RW_CLIENT_CERTIFICATE"], env["K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY"]
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return c, fmt.Errorf("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE and K6_PROMETHEUS_RW_CLIENT_CERTIFICATE_KEY go together")
	}
	if v := env["K6_PROMETHEUS_RW_STALE_MARKERS"]; v != "" {
		if c.StaleMarkers, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("K6_PROMETHEUS_RW_STALE_MARKERS=%q: want true or false", v)
		}
	}
	c.Headers = map[string]string{}
	// K6_PROMETHEUS_RW_HEADERS_<NAME>=value, one header each (k6's form).
	hkeys := make([]string, 0)
	for k := range env {
		if strings.HasPrefix(k, "K6_PROMETHEUS_RW_HEADERS_") && len(k) > len("K6_PROMETHEUS_RW_HEADERS_") {
			hkeys = append(hkeys, k)
		}
	}
	sort.Strings(hkeys)
	for _, k := range hkeys {
		c.Headers[strings.TrimPrefix(k, "K6_PROMETHEUS_RW_HEADERS_")] = env[k]
	}
	// K6_PROMETHEUS_RW_HTTP_HEADERS="Name:value,Other:value".
	if v := env["K6_PROMETHEUS_RW_HTTP_HEADERS"]; v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return c, fmt.Errorf("K6_PROMETHEUS_RW_HTTP_HEADERS: %q: want Name:value", kv)
			}
			c.Headers[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
	}
	return c, nil
}

// Output aggregates samples and pushes them from a goroutine of its own.
type Output struct {
	cfg    Config
	testID string
	stderr io.Writer
	client *client

	mu      sync.Mutex
	series  map[string]*series
	order   []*series       // creation order, for stable requests
	testIDs map[string]bool // testid label values in use

	stop        chan struct{}
	done        chan struct{}
	stopTimeout time.Duration

	// Owned by the push goroutine until done is closed.
	pushes, sent, lost int
	lastErr            string
}

// New builds the output from `--out prometheus-rw[=URL]`.
func New(p output.Params) (output.Output, error) {
	cfg, err := ParseConfig(p.Arg, p.Env)
	if err != nil {
		return nil, err
	}
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	id := p.TestID
	if id == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id = "spread-" + hex.EncodeToString(b[:])
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Output{cfg: cfg, testID: id, stderr: stderr, client: c, series: map[string]*series{}, testIDs: map[string]bool{}, stopTimeout: stopTimeout}, nil
}

// TestID is the testid label of series whose samples carry no testid tag.
func (o *Output) TestID() string { return o.testID }

// Description names the target and the generated testid (used where
// samples carry no testid tag).
func (o *Output) Description() string {
	return fmt.Sprintf("prometheus-rw (%s, testid=%s unless tagged)", o.cfg.URL, o.testID)
}

// Start starts the periodic push.
func (o *Output) Start() error {
	o.stop, o.done = make(chan struct{}), make(chan struct{})
	go o.loop()
	return nil
}

// AddSamples folds samples into the in-memory aggregates; it never waits
// for the network.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range samples {
		if s.Metric == nil {
			continue
		}
		key := seriesKey(s.Metric, s.Tags)
		se := o.series[key]
		if se == nil {
			se = &series{metric: s.Metric, labels: labelsFor(s.Tags, o.testID)}
			for _, l := range se.labels {
				if l.Name == "testid" {
					o.testIDs[l.Value] = true
				}
			}
			o.series[key] = se
			o.order = append(o.order, se)
		}
		se.add(s.Value, o.cfg.NativeHistogram)
	}
}

// Stop makes the last push and says how many samples were not delivered.
func (o *Output) Stop() error {
	if o.stop == nil {
		return nil
	}
	close(o.stop)
	<-o.done
	ctx, cancel := context.WithTimeout(context.Background(), o.stopTimeout)
	defer cancel()
	o.push(ctx, true)
	if o.cfg.StaleMarkers {
		o.pushStale(ctx)
	}
	if o.lost > 0 {
		fmt.Fprintf(o.stderr, "prometheus-rw: %d of %d samples could not be delivered to %s (last error: %s)\n",
			o.lost, o.sent+o.lost, o.cfg.URL, o.lastErr)
		return nil
	}
	o.mu.Lock()
	ids := make([]string, 0, len(o.testIDs))
	for id := range o.testIDs {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	sort.Strings(ids)
	fmt.Fprintf(o.stderr, "prometheus-rw: %d samples in %d pushes delivered to %s, testid=%s\n",
		o.sent, o.pushes, o.cfg.URL, strings.Join(ids, ","))
	return nil
}

func (o *Output) loop() {
	defer close(o.done)
	t := time.NewTicker(o.cfg.PushInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			// A push may not outlive the interval, so pushes never pile up;
			// Stop also cuts a push in progress short.
			ctx, cancel := context.WithTimeout(context.Background(), o.cfg.PushInterval)
			go func() {
				select {
				case <-o.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			o.push(ctx, false)
			cancel()
		}
	}
}

func (o *Output) stopping() bool {
	select {
	case <-o.stop:
		return true
	default:
		return false
	}
}

// push sends the current aggregates and accounts for the outcome.
func (o *Output) push(ctx context.Context, final bool) {
	req := o.snapshot(time.Now())
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	if n == 0 {
		return
	}
	o.pushes++
	if err := o.client.send(ctx, req); err != nil {
		if !final && ctx.Err() != nil && o.stopping() {
			// Cut short by Stop, whose final push carries the same
			// cumulative values: superseded rather than lost.
			o.pushes--
			return
		}
		o.lost += n
		if msg := err.Error(); msg != o.lastErr {
			fmt.Fprintf(o.stderr, "prometheus-rw: push failed: %s\n", msg)
			o.lastErr = msg
		}
		return
	}
	o.sent += n
}

// snapshot builds a write request holding every series' value at now.
func (o *Output) snapshot(now time.Time) *prompb.WriteRequest {
	ts := now.UnixMilli()
	o.mu.Lock()
	defer o.mu.Unlock()
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(o.order))}
	for _, s := range o.order {
		if s.n == 0 {
			continue
		}
		names := SeriesNames(s.metric, o.cfg.TrendStats, o.cfg.NativeHistogram)
		switch s.metric.Type {
		case ext.Counter, ext.Gauge:
			req.Timeseries = append(req.Timeseries, gauge(names[0], s.labels, s.value, ts))
		case ext.Rate:
			req.Timeseries = append(req.Timeseries, gauge(names[0], s.labels, float64(s.hits)/float64(s.n), ts))
		case ext.Trend:
			if o.cfg.NativeHistogram {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
					Labels:     withName(names[0], s.labels),
					Histograms: []prompb.Histogram{prompb.FromIntHistogram(ts, s.histogram())},
				})
				continue
			}
			for i, st := range o.cfg.TrendStats {
				req.Timeseries = append(req.Timeseries, gauge(names[i], s.labels, s.stat(st), ts))
			}
		}
	}
	return req
}

// staleNaN is Prometheus's staleness marker (value/value.go StaleNaN): a
// sample with this value ends a series at once instead of after 5 minutes.
var staleNaN = math.Float64frombits(0x7ff0000000000002)

// pushStale marks every series of the run stale, one millisecond after the
// final values (K6_PROMETHEUS_RW_STALE_MARKERS).
func (o *Output) pushStale(ctx context.Context) {
	req := o.snapshot(time.Now().Add(time.Millisecond))
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		at := int64(0)
		if len(ts.Samples) > 0 {
			at = ts.Samples[0].Timestamp
		} else if len(ts.Histograms) > 0 {
			at = ts.Histograms[0].Timestamp
		}
		ts.Samples = []prompb.Sample{{Value: staleNaN, Timestamp: at}}
		ts.Histograms = nil
	}
	if len(req.Timeseries) == 0 {
		return
	}
	if err := o.client.send(ctx, req); err != nil {
		fmt.Fprintf(o.stderr, "prometheus-rw: stale markers not delivered: %v\n", err)
	}
}

func gauge(name string, labels []prompb.Label, v float64, ts int64) prompb.TimeSeries {
	return prompb.TimeSeries{
		Labels:  withName(name, labels),
		Samples: []prompb.Sample{{Value: v, Timestamp: ts}},
	}
}
