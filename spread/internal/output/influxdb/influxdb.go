// Package influxdb is the `--out influxdb=http://HOST:8086/DB` output, as
// k6's built-in InfluxDB v1 output: every sample becomes one line of line
// protocol (measurement = metric name, the sample's tags as tags, `value`
// as field, the tags named in K6_INFLUXDB_TAGS_AS_FIELDS as fields), sent
// to /write every K6_INFLUXDB_PUSH_INTERVAL by at most
// K6_INFLUXDB_CONCURRENT_WRITES requests at once; the database is created
// at start. The classic k6 InfluxDB Grafana dashboard (grafana.com 2587)
// queries these measurements; spread's `pod` tag comes along.
//
// A slow or unreachable InfluxDB never slows the test (package delivery):
// batches queue in bounded memory, are tried a bounded number of times,
// and what was not delivered is counted and reported at the end.
package influxdb

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/output/delivery"
	"spread.dev/spread/output"
)

// Defaults, as k6's output has them.
const (
	DefaultURL          = "http://localhost:8086/k6"
	DefaultPushInterval = time.Second
	DefaultConcurrency  = 4
	DefaultTagsAsFields = "vu:int,iter:int,url"
	// linesPerBatch bounds one /write body (InfluxDB suggests 5,000-10,000 points).
	linesPerBatch = 5000
	stopGrace     = 5 * time.Second
)

// field is a tag written as a field, with its type.
type field struct {
	name string
	kind string // int, float, bool, string
}

// Config is what the output reads from --out and K6_INFLUXDB_*.
type Config struct {
	Server       string // scheme://host:port[/prefix], without the database
	DB           string
	Username     string
	Password     string
	Insecure     bool
	PushInterval time.Duration
	Concurrency  int
	TagsAsFields []field
	Precision    string // ns (default), u, ms, s
	Retention    string // retention policy to write to (rp=)
	Consistency  string // any, one, quorum, all (clusters)
	Proxy        string
}

func envOr(env map[string]string, k, def string) string {
	if v := strings.TrimSpace(env[k]); v != "" {
		return v
	}
	return def
}

// ParseConfig reads the --out argument (k6's form: a URL whose last path
// element is the database, user:password@ allowed) and K6_INFLUXDB_*.
func ParseConfig(arg string, env map[string]string) (Config, error) {
	c := Config{PushInterval: DefaultPushInterval, Concurrency: DefaultConcurrency, Precision: "ns"}
	raw := strings.TrimSpace(arg)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("influxdb=%q: want http(s)://HOST:PORT/DATABASE", raw)
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	c.DB, c.Server = path[i+1:], u.Scheme+"://"+u.Host
	if i > 0 {
		c.Server += "/" + path[:i] // a reverse proxy's prefix
	}
	if c.DB == "" {
		return c, fmt.Errorf("influxdb=%q: no database (want http://HOST:8086/DATABASE)", raw)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if db := u.Query().Get("db"); db != "" {
		c.DB = db
	}
	c.Username = envOr(env, "K6_INFLUXDB_USERNAME", c.Username)
	c.Password = envOr(env, "K6_INFLUXDB_PASSWORD", c.Password)
	if v := env["K6_INFLUXDB_INSECURE"]; v != "" {
		if c.Insecure, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("K6_INFLUXDB_INSECURE=%q: want true or false", v)
		}
	}
	if v := env["K6_INFLUXDB_PUSH_INTERVAL"]; v != "" {
		if c.PushInterval, err = time.ParseDuration(v); err != nil || c.PushInterval <= 0 {
			return c, fmt.Errorf("K6_INFLUXDB_PUSH_INTERVAL=%q: want a positive duration such as 1s", v)
		}
	}
	if v := env["K6_INFLUXDB_CONCURRENT_WRITES"]; v != "" {
		if c.Concurrency, err = strconv.Atoi(v); err != nil || c.Concurrency < 1 {
			return c, fmt.Errorf("K6_INFLUXDB_CONCURRENT_WRITES=%q: want a number >= 1", v)
		}
	}
	if c.TagsAsFields, err = parseTagsAsFields(envOr(env, "K6_INFLUXDB_TAGS_AS_FIELDS", DefaultTagsAsFields)); err != nil {
		return c, err
	}
	c.Precision = envOr(env, "K6_INFLUXDB_PRECISION", "ns")
	switch c.Precision {
	case "ns", "u", "ms", "s":
	default:
		return c, fmt.Errorf("K6_INFLUXDB_PRECISION=%q: want ns, u, ms or s", c.Precision)
	}
	c.Retention = env["K6_INFLUXDB_RETENTION"]
	c.Consistency = env["K6_INFLUXDB_CONSISTENCY"]
	switch c.Consistency {
	case "", "any", "one", "quorum", "all":
	default:
		return c, fmt.Errorf("K6_INFLUXDB_CONSISTENCY=%q: want any, one, quorum or all", c.Consistency)
	}
	c.Proxy = env["K6_INFLUXDB_PROXY"]
	return c, nil
}

func parseTagsAsFields(s string) ([]field, error) {
	var out []field
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, kind, _ := strings.Cut(part, ":")
		if kind == "" {
			kind = "string"
		}
		switch kind {
		case "int", "float", "bool", "string":
		default:
			return nil, fmt.Errorf("K6_INFLUXDB_TAGS_AS_FIELDS: %q: type must be int, float, bool or string", part)
		}
		out = append(out, field{name, kind})
	}
	return out, nil
}

// Output buffers samples and sends them as line protocol.
type Output struct {
	cfg    Config
	client *http.Client
	stderr io.Writer

	buf *delivery.Buffer

	sender *delivery.Sender
}

// New builds the output from its params.
func New(p output.Params) (output.Output, error) {
	cfg, err := ParseConfig(p.Arg, p.Env)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: cfg.Insecure} //nolint:gosec // the user asked (K6_INFLUXDB_INSECURE)
	if cfg.Proxy != "" {
		pu, err := url.Parse(cfg.Proxy)
		if err != nil {
			return nil, fmt.Errorf("K6_INFLUXDB_PROXY=%q: %v", cfg.Proxy, err)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	stderr := p.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return &Output{cfg: cfg, client: &http.Client{Transport: tr}, stderr: stderr}, nil
}

// Description names the store and database.
func (o *Output) Description() string {
	return fmt.Sprintf("influxdb (%s, db %s)", o.cfg.Server, o.cfg.DB)
}

// Start creates the database (as k6 does) and starts the pushes. A store
// that cannot be reached is a warning, not a failed test: its samples are
// counted as undelivered at the end.
func (o *Output) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := o.createDB(ctx); err != nil {
		fmt.Fprintf(o.stderr, "influxdb: create database %q: %v (samples will be retried, and counted if lost)\n", o.cfg.DB, err)
	}
	o.sender = delivery.New(delivery.Config{Name: "influxdb", Concurrency: o.cfg.Concurrency,
		Timeout: max(o.cfg.PushInterval, 5*time.Second)}, o.write)
	o.buf = delivery.StartBuffer(o.cfg.PushInterval, o.flush)
	return nil
}

func (o *Output) createDB(ctx context.Context) error {
	q := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", o.cfg.DB)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.Server+"/query", strings.NewReader(q.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return o.do(req)
}

func (o *Output) do(req *http.Request) error {
	if o.cfg.Username != "" {
		req.SetBasicAuth(o.cfg.Username, o.cfg.Password)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return &delivery.PermanentError{Err: err}
		}
		return err
	}
	return nil
}

// write posts one batch of lines.
func (o *Output) write(ctx context.Context, b delivery.Batch) error {
	q := url.Values{"db": {o.cfg.DB}, "precision": {o.cfg.Precision}}
	if o.cfg.Retention != "" {
		q.Set("rp", o.cfg.Retention)
	}
	if o.cfg.Consistency != "" {
		q.Set("consistency", o.cfg.Consistency)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.Server+"/write?"+q.Encode(), bytes.NewReader(b.Data.([]byte)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return o.do(req)
}

// AddSamples keeps the samples for the next push; encoding happens there,
// off the engine's sample loop.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.buf.Add(samples)
}

// flush encodes the pending samples into batches and queues them.
func (o *Output) flush(samples []ext.Sample) {
	var buf []byte
	n := 0
	for _, s := range samples {
		if s.Metric == nil {
			continue
		}
		buf = o.appendLine(buf, s)
		n++
		if n == linesPerBatch {
			o.sender.Enqueue(delivery.Batch{Data: buf, Size: n})
			buf, n = nil, 0
		}
	}
	o.sender.Enqueue(delivery.Batch{Data: buf, Size: n})
}

// Stop pushes what is left, waits a bounded time for it, and reports what
// could not be delivered.
func (o *Output) Stop() error {
	if o.sender == nil {
		return nil
	}
	o.buf.Stop()
	r := o.sender.Close(stopGrace)
	if r.Undelivered > 0 {
		fmt.Fprintf(o.stderr, "influxdb: %d of %d samples NOT delivered to %s (last error: %v)\n",
			r.Undelivered, r.Delivered+r.Undelivered, o.cfg.Server, r.LastError)
	}
	return nil
}

// Escapes of line protocol (InfluxDB 1.x documentation).
var (
	measurementEscaper = strings.NewReplacer(",", `\,`, " ", `\ `)
	tagEscaper         = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	stringEscaper      = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
)

// appendLine writes one sample as `name,tag=v,... value=V,field=... TS`.
func (o *Output) appendLine(b []byte, s ext.Sample) []byte {
	b = append(b, measurementEscaper.Replace(s.Metric.Name)...)
	var fieldTags []ext.Tag
	for k, v := range s.Tags.All() { // sorted, as InfluxDB recommends
		if v == "" {
			continue
		}
		if o.isField(k) {
			fieldTags = append(fieldTags, ext.Tag{Key: k, Value: v})
			continue
		}
		b = append(b, ',')
		b = append(b, tagEscaper.Replace(k)...)
		b = append(b, '=')
		b = append(b, tagEscaper.Replace(v)...)
	}
	b = append(b, " value="...)
	b = strconv.AppendFloat(b, finite(s.Value), 'g', -1, 64)
	for _, ft := range fieldTags {
		b = o.appendField(b, ft.Key, ft.Value)
	}
	mk := make([]string, 0, len(s.Metadata))
	for k := range s.Metadata {
		if k != "value" {
			mk = append(mk, k)
		}
	}
	sort.Strings(mk)
	for _, k := range mk {
		b = append(b, ',')
		b = append(b, tagEscaper.Replace(k)...)
		b = append(b, `="`...)
		b = append(b, stringEscaper.Replace(s.Metadata[k])...)
		b = append(b, '"')
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, o.timestamp(s.Time), 10)
	return append(b, '\n')
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // line protocol has no NaN or Inf
	}
	return v
}

func (o *Output) isField(tag string) bool {
	for _, f := range o.cfg.TagsAsFields {
		if f.name == tag {
			return true
		}
	}
	return false
}

// appendField writes a tag as a field of its configured type; a value that
// does not parse as that type is written as a string, not dropped.
func (o *Output) appendField(b []byte, name, val string) []byte {
	kind := "string"
	for _, f := range o.cfg.TagsAsFields {
		if f.name == name {
			kind = f.kind
		}
	}
	b = append(b, ',')
	b = append(b, tagEscaper.Replace(name)...)
	b = append(b, '=')
	switch kind {
	case "int":
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			b = strconv.AppendInt(b, n, 10)
			return append(b, 'i')
		}
	case "float":
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			return strconv.AppendFloat(b, finite(f), 'g', -1, 64)
		}
	case "bool":
		if v, err := strconv.ParseBool(val); err == nil {
			return strconv.AppendBool(b, v)
		}
	}
	b = append(b, '"')
	b = append(b, stringEscaper.Replace(val)...)
	return append(b, '"')
}

func (o *Output) timestamp(t time.Time) int64 {
	switch o.cfg.Precision {
	case "u":
		return t.UnixMicro()
	case "ms":
		return t.UnixMilli()
	case "s":
		return t.Unix()
	}
	return t.UnixNano()
}
