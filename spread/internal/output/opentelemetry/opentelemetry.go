// Package opentelemetry is the `--out opentelemetry` output (also
// `experimental-opentelemetry`, k6's earlier name), built on the official
// OpenTelemetry Go SDK with its OTLP exporters (gRPC, or HTTP/protobuf), as
// k6's output maps metrics: counters → Float64Counter, gauges →
// Float64Gauge, rates → one Int64Counter with the attribute
// condition=zero|nonzero (or k6's older NAME.occurred and NAME.total with
// K6_OTEL_SINGLE_COUNTER_FOR_RATE=false), trends → Float64Histogram; tags
// become attributes (pod included), units come from the metric (ms, By).
//
// Samples are recorded into the SDK every K6_OTEL_FLUSH_INTERVAL off the
// engine's sample loop; the SDK's periodic reader exports every
// K6_OTEL_EXPORT_INTERVAL in its own goroutine, with bounded retries and
// timeouts, so a slow or absent collector never slows the test. Exports that
// failed are counted and reported at the end.
package opentelemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/output/delivery"
	"spread.dev/spread/output"
)

// Config is K6_OTEL_*, with k6's defaults.
type Config struct {
	ServiceName, ServiceVersion string
	Prefix                      string
	FlushInterval               time.Duration
	ExportInterval              time.Duration
	Exporter                    string // grpc or http
	Headers                     map[string]string
	TLSSkipVerify               bool
	TLSCA, TLSCert, TLSKey      string
	GRPCEndpoint                string
	GRPCInsecure                bool
	HTTPEndpoint, HTTPPath      string
	HTTPInsecure                bool
	SingleCounterForRate        bool
}

// ParseConfig reads K6_OTEL_* from env.
func ParseConfig(env map[string]string) (Config, error) {
	c := Config{ServiceName: "k6", ServiceVersion: "spread", FlushInterval: time.Second, ExportInterval: 10 * time.Second,
		Exporter: "grpc", GRPCEndpoint: "localhost:4317", HTTPEndpoint: "localhost:4318", HTTPPath: "/v1/metrics",
		SingleCounterForRate: true, Headers: map[string]string{}}
	str := func(k string, dst *string) {
		if v := strings.TrimSpace(env[k]); v != "" {
			*dst = v
		}
	}
	var errs []error
	dur := func(k string, dst *time.Duration) {
		if v := env[k]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 1s", k, v))
				return
			}
			*dst = d
		}
	}
	boolean := func(k string, dst *bool) {
		if v := env[k]; v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want true or false", k, v))
				return
			}
			*dst = b
		}
	}
	str("K6_OTEL_SERVICE_NAME", &c.ServiceName)
	str("K6_OTEL_SERVICE_VERSION", &c.ServiceVersion)
	c.Prefix = env["K6_OTEL_METRIC_PREFIX"]
	dur("K6_OTEL_FLUSH_INTERVAL", &c.FlushInterval)
	dur("K6_OTEL_EXPORT_INTERVAL", &c.ExportInterval)
	str("K6_OTEL_EXPORTER_TYPE", &c.Exporter)
	if p := strings.TrimSpace(env["K6_OTEL_EXPORTER_PROTOCOL"]); p != "" {
		c.Exporter = p
	}
	switch c.Exporter {
	case "grpc":
	case "http", "http/protobuf":
		c.Exporter = "http"
	default:
		errs = append(errs, fmt.Errorf("K6_OTEL_EXPORTER_TYPE/PROTOCOL=%q: want grpc or http/protobuf", c.Exporter))
	}
	if h := env["K6_OTEL_HEADERS"]; h != "" {
		for _, kv := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				errs = append(errs, fmt.Errorf("K6_OTEL_HEADERS: %q: want key=value[,key=value]", kv))
				continue
			}
			c.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	boolean("K6_OTEL_TLS_INSECURE_SKIP_VERIFY", &c.TLSSkipVerify)
	str("K6_OTEL_TLS_CERTIFICATE", &c.TLSCA)
	str("K6_OTEL_TLS_CLIENT_CERTIFICATE", &c.TLSCert)
	str("K6_OTEL_TLS_CLIENT_KEY", &c.TLSKey)
	str("K6_OTEL_GRPC_EXPORTER_ENDPOINT", &c.GRPCEndpoint)
	boolean("K6_OTEL_GRPC_EXPORTER_INSECURE", &c.GRPCInsecure)
	str("K6_OTEL_HTTP_EXPORTER_ENDPOINT", &c.HTTPEndpoint)
	str("K6_OTEL_HTTP_EXPORTER_URL_PATH", &c.HTTPPath)
	boolean("K6_OTEL_HTTP_EXPORTER_INSECURE", &c.HTTPInsecure)
	boolean("K6_OTEL_SINGLE_COUNTER_FOR_RATE", &c.SingleCounterForRate)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("K6_OTEL_TLS_CLIENT_CERTIFICATE and K6_OTEL_TLS_CLIENT_KEY go together"))
	}
	return c, errors.Join(errs...)
}

func (c Config) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{InsecureSkipVerify: c.TLSSkipVerify} //nolint:gosec // the user asked (K6_OTEL_TLS_INSECURE_SKIP_VERIFY)
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("K6_OTEL_TLS_CERTIFICATE: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("K6_OTEL_TLS_CERTIFICATE %s: no PEM certificate", c.TLSCA)
		}
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("K6_OTEL_TLS_CLIENT_CERTIFICATE/KEY: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// Bounds of one export: the SDK's defaults (30 s timeout, retries for a
// minute) would hold the end of a run for long on a dead collector.
const (
	exportTimeout = 5 * time.Second
	stopTimeout   = 10 * time.Second
)

func (c Config) exporter(ctx context.Context) (sdkmetric.Exporter, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if c.Exporter == "http" {
		rc := otlpmetrichttp.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 3 * time.Second}
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(c.HTTPEndpoint), otlpmetrichttp.WithURLPath(c.HTTPPath),
			otlpmetrichttp.WithHeaders(c.Headers), otlpmetrichttp.WithTimeout(exportTimeout), otlpmetrichttp.WithRetry(rc)}
		if c.HTTPInsecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		} else {
			opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tc))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	rc := otlpmetricgrpc.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 3 * time.Second}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(c.GRPCEndpoint), otlpmetricgrpc.WithHeaders(c.Headers),
		otlpmetricgrpc.WithTimeout(exportTimeout), otlpmetricgrpc.WithRetry(rc)}
	if c.GRPCInsecure {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	} else {
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tc)))
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

// Output records samples into the SDK's instruments.
type Output struct {
	cfg    Config
	stderr io.Writer

	provider *sdkmetric.MeterProvider
	meter    metric.Meter
	exp      *countingExporter

	buf *delivery.Buffer

	instr map[string]*instrument // by metric name; flush goroutine only
	attrs map[string]attribute.Set
}

type instrument struct {
	counter metric.Float64Counter
	gauge   metric.Float64Gauge
	hist    metric.Float64Histogram
	rate    metric.Int64Counter // single counter, or .occurred
	rateAll metric.Int64Counter // .total (legacy)
	kind    ext.MetricType
	failed  error
}

// New builds the output from K6_OTEL_*.
func New(p output.Params) (output.Output, error) {
	cfg, err := ParseConfig(p.Env)
	if err != nil {
		return nil, err
	}
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return &Output{cfg: cfg, stderr: stderr, instr: map[string]*instrument{}, attrs: map[string]attribute.Set{}}, nil
}

// Description names the exporter and its endpoint.
func (o *Output) Description() string {
	if o.cfg.Exporter == "http" {
		return fmt.Sprintf("opentelemetry (http %s%s)", o.cfg.HTTPEndpoint, o.cfg.HTTPPath)
	}
	return "opentelemetry (grpc " + o.cfg.GRPCEndpoint + ")"
}

// Start builds the exporter and the meter provider; neither connects
// before the first export, so an absent collector does not fail the run.
func (o *Output) Start() error {
	exp, err := o.cfg.exporter(context.Background())
	if err != nil {
		return fmt.Errorf("opentelemetry: %w", err)
	}
	o.exp = &countingExporter{Exporter: exp}
	// The SDK logs every failed export through otel's global handler; they
	// are counted here and reported once at the end instead of a log line
	// per try.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	res := resource.NewSchemaless(attribute.String("service.name", o.cfg.ServiceName), attribute.String("service.version", o.cfg.ServiceVersion))
	o.provider = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(o.exp, sdkmetric.WithInterval(o.cfg.ExportInterval), sdkmetric.WithTimeout(exportTimeout+4*time.Second))))
	o.meter = o.provider.Meter("spread")
	o.buf = delivery.StartBuffer(o.cfg.FlushInterval, o.flush)
	return nil
}

// AddSamples keeps the samples for the next flush.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.buf.Add(samples)
}

func (o *Output) flush(samples []ext.Sample) {
	ctx := context.Background()
	for _, s := range samples {
		if s.Metric == nil {
			continue
		}
		in := o.instrumentFor(s.Metric)
		if in.failed != nil {
			continue
		}
		attrs := o.attrSet(s.Tags)
		switch in.kind {
		case ext.Counter:
			in.counter.Add(ctx, s.Value, metric.WithAttributeSet(attrs))
		case ext.Gauge:
			in.gauge.Record(ctx, s.Value, metric.WithAttributeSet(attrs))
		case ext.Trend:
			in.hist.Record(ctx, s.Value, metric.WithAttributeSet(attrs))
		case ext.Rate:
			if o.cfg.SingleCounterForRate {
				cond := "zero"
				if s.Value != 0 {
					cond = "nonzero"
				}
				in.rate.Add(ctx, 1, metric.WithAttributeSet(o.attrSet(s.Tags.With("condition", cond))))
			} else {
				if s.Value != 0 {
					in.rate.Add(ctx, 1, metric.WithAttributeSet(attrs))
				}
				in.rateAll.Add(ctx, 1, metric.WithAttributeSet(attrs))
			}
		}
	}
}

func unit(m *ext.Metric) string {
	switch m.Contains {
	case ext.Time:
		return "ms"
	case ext.Data:
		return "By"
	}
	return ""
}

func (o *Output) instrumentFor(m *ext.Metric) *instrument {
	if in := o.instr[m.Name]; in != nil {
		return in
	}
	in := &instrument{kind: m.Type}
	name, u := o.cfg.Prefix+m.Name, unit(m)
	var err error
	switch m.Type {
	case ext.Counter:
		in.counter, err = o.meter.Float64Counter(name, metric.WithUnit(u))
	case ext.Gauge:
		in.gauge, err = o.meter.Float64Gauge(name, metric.WithUnit(u))
	case ext.Trend:
		in.hist, err = o.meter.Float64Histogram(name, metric.WithUnit(u))
	case ext.Rate:
		if o.cfg.SingleCounterForRate {
			in.rate, err = o.meter.Int64Counter(name)
		} else if in.rate, err = o.meter.Int64Counter(name + ".occurred"); err == nil {
			in.rateAll, err = o.meter.Int64Counter(name + ".total")
		}
	}
	if err != nil {
		in.failed = err
		fmt.Fprintf(o.stderr, "opentelemetry: metric %s: %v (not exported)\n", name, err)
	}
	o.instr[m.Name] = in
	return in
}

// attrSet converts tags to an attribute set, cached by their text: runs
// have few distinct tag sets and building a set sorts it again.
func (o *Output) attrSet(tags ext.TagSet) attribute.Set {
	key := tags.String()
	if s, ok := o.attrs[key]; ok {
		return s
	}
	kvs := make([]attribute.KeyValue, 0, tags.Len())
	for k, v := range tags.All() {
		kvs = append(kvs, attribute.String(k, v))
	}
	s := attribute.NewSet(kvs...)
	o.attrs[key] = s
	return s
}

// Stop records what is left, exports a last time (bounded), and reports
// failed exports.
func (o *Output) Stop() error {
	if o.provider == nil {
		return nil
	}
	o.buf.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := o.provider.Shutdown(ctx)
	ok, failed, points, lastErr := o.exp.report()
	if failed > 0 || err != nil {
		if lastErr == nil {
			lastErr = err
		}
		fmt.Fprintf(o.stderr, "opentelemetry: %d of %d exports NOT delivered (%d data points; last error: %v)\n", failed, ok+failed, points, lastErr)
	}
	return nil
}

// countingExporter counts the exports that failed and their data points.
type countingExporter struct {
	sdkmetric.Exporter
	mu             sync.Mutex
	ok, failed     int
	failedPoints   int
	lastErr        error
	deliveredPoint int
}

func (c *countingExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := c.Exporter.Export(ctx, rm)
	n := points(rm)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed++
		c.failedPoints += n
		c.lastErr = err
	} else {
		c.ok++
		c.deliveredPoint += n
	}
	return err
}

func (c *countingExporter) report() (ok, failed, points int, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, c.failed, c.failedPoints, c.lastErr
}

func points(rm *metricdata.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[float64]:
				n += len(d.DataPoints)
			case metricdata.Sum[int64]:
				n += len(d.DataPoints)
			case metricdata.Gauge[float64]:
				n += len(d.DataPoints)
			case metricdata.Histogram[float64]:
				n += len(d.DataPoints)
			}
		}
	}
	return n
}
