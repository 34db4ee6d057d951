package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"spread.dev/spread/ext"
)

// Threshold is one parsed threshold expression such as "p(95)<500".
type Threshold struct {
	Source         string        // the expression as written, trimmed
	Stat           string        // avg, min, max, med, count, rate, value or p(N)
	Percentile     float64       // N of p(N), in [0, 100]
	Op             string        // <, <=, >, >=, ==, ===, !=
	Value          float64       // right-hand side
	AbortOnFail    bool          // stop the test when this threshold fails
	DelayAbortEval time.Duration // do not abort before this much test time

	// Last evaluation.
	evaluated bool
	ok        bool
	last      float64
}

// operators are tried longest first so "<=" is not read as "<".
var operators = []string{"===", "==", "!=", "<=", ">=", "<", ">"}

// ParseThreshold parses one k6 threshold expression: `stat op value`, where
// stat is avg, min, max, med, count, rate, value or p(N).
func ParseThreshold(expr string) (*Threshold, error) {
	src := strings.TrimSpace(expr)
	if src == "" {
		return nil, fmt.Errorf("empty threshold expression")
	}
	opAt, op := -1, ""
	for i := 0; i < len(src) && opAt < 0; i++ {
		for _, o := range operators {
			if strings.HasPrefix(src[i:], o) {
				opAt, op = i, o
				break
			}
		}
	}
	if opAt < 0 {
		return nil, fmt.Errorf("threshold %q: no operator (want one of < <= > >= == === !=)", src)
	}
	left := strings.TrimSpace(src[:opAt])
	right := strings.TrimSpace(src[opAt+len(op):])
	if left == "" {
		return nil, fmt.Errorf("threshold %q: missing aggregation method before %q", src, op)
	}
	if right == "" {
		return nil, fmt.Errorf("threshold %q: missing value after %q", src, op)
	}
	v, err := strconv.ParseFloat(right, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("threshold %q: %q is not a number", src, right)
	}
	stat, pct, err := parseStat(left)
	if err != nil {
		return nil, fmt.Errorf("threshold %q: %w", src, err)
	}
	return &Threshold{Source: src, Stat: stat, Percentile: pct, Op: op, Value: v}, nil
}

// parseStat parses an aggregation method; it normalises p( 95 ) to p(95).
func parseStat(s string) (string, float64, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "avg", "min", "max", "med", "count", "rate", "value":
		return s, 0, nil
	}
	if strings.HasPrefix(s, "p(") && strings.HasSuffix(s, ")") {
		inner := strings.TrimSpace(s[2 : len(s)-1])
		p, err := strconv.ParseFloat(inner, 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
			return "", 0, fmt.Errorf("bad percentile %q (want p(N) with 0 <= N <= 100)", s)
		}
		return "p(" + strconv.FormatFloat(p, 'f', -1, 64) + ")", p, nil
	}
	return "", 0, fmt.Errorf("unknown aggregation method %q (want avg, min, max, med, p(N), count, rate or value)", s)
}

// statAllowed says whether k6 allows aggregation method stat on a metric type.
func statAllowed(t ext.MetricType, stat string) bool {
	switch t {
	case ext.Counter:
		return stat == "count" || stat == "rate"
	case ext.Gauge:
		return stat == "value"
	case ext.Rate:
		return stat == "rate"
	case ext.Trend:
		return stat == "avg" || stat == "min" || stat == "max" || stat == "med" ||
			stat == "count" || strings.HasPrefix(stat, "p(")
	}
	return false
}

// allowedStats is the help text for a metric type's methods.
func allowedStats(t ext.MetricType) string {
	switch t {
	case ext.Counter:
		return "count, rate"
	case ext.Gauge:
		return "value"
	case ext.Rate:
		return "rate"
	}
	return "avg, min, max, med, p(N), count"
}

// check compares an aggregated value with the threshold's right-hand side.
func (t *Threshold) check(v float64) bool {
	switch t.Op {
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "==", "===":
		return v == t.Value
	case "!=":
		return v != t.Value
	}
	return false
}

// thresholdSpec is one parsed entry of options.thresholds.
type thresholdSpec struct {
	Key        string // metric key as written: name or name{tag:value,...}
	Thresholds []*Threshold
}

// parseThresholdConfig parses options.thresholds, keeping the key order of
// the script so the summary lists thresholds as written.
func parseThresholdConfig(raw json.RawMessage) ([]thresholdSpec, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("thresholds: want an object of metric name to expressions, got %s", raw)
	}
	var out []thresholdSpec
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("thresholds: %w", err)
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("thresholds[%q]: %w", key, err)
		}
		ths, err := parseThresholdList(val)
		if err != nil {
			return nil, fmt.Errorf("invalid threshold on %s: %w", key, err)
		}
		out = append(out, thresholdSpec{Key: strings.TrimSpace(key), Thresholds: ths})
	}
	return out, nil
}

// thresholdObject is the long form {threshold, abortOnFail, delayAbortEval}.
type thresholdObject struct {
	Threshold      *string         `json:"threshold"`
	AbortOnFail    bool            `json:"abortOnFail"`
	DelayAbortEval json.RawMessage `json:"delayAbortEval"`
}

// parseThresholdList accepts "expr", {threshold...} or an array of both.
func parseThresholdList(raw json.RawMessage) ([]*Threshold, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var out []*Threshold
	for _, it := range items {
		it = bytes.TrimSpace(it)
		switch {
		case len(it) > 0 && it[0] == '"':
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				return nil, err
			}
			th, err := ParseThreshold(s)
			if err != nil {
				return nil, err
			}
			out = append(out, th)
		case len(it) > 0 && it[0] == '{':
			var o thresholdObject
			if err := json.Unmarshal(it, &o); err != nil {
				return nil, fmt.Errorf("threshold object %s: %w", it, err)
			}
			if o.Threshold == nil {
				return nil, fmt.Errorf("threshold object %s: missing \"threshold\"", it)
			}
			th, err := ParseThreshold(*o.Threshold)
			if err != nil {
				return nil, err
			}
			th.AbortOnFail = o.AbortOnFail
			if d, err := parseDelay(o.DelayAbortEval); err != nil {
				return nil, fmt.Errorf("threshold %q: delayAbortEval: %w", th.Source, err)
			} else {
				th.DelayAbortEval = d
			}
			out = append(out, th)
		default:
			return nil, fmt.Errorf("want a string or {threshold, abortOnFail, delayAbortEval}, got %s", it)
		}
	}
	return out, nil
}

// parseDelay reads a k6 duration: "10s" / "1m30s" strings or milliseconds.
func parseDelay(raw json.RawMessage) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return 0, nil
		}
		if ms, err := strconv.ParseFloat(s, 64); err == nil {
			return time.Duration(ms * float64(time.Millisecond)), nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil || ms < 0 {
		return 0, fmt.Errorf("%s is not a duration", raw)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// parseMetricKey splits "name{tag:value, tag2:'v'}" into name and tags,
// keeping the tag order as written.
func parseMetricKey(key string) (string, [][2]string, error) {
	key = strings.TrimSpace(key)
	open := strings.IndexByte(key, '{')
	if open < 0 {
		if strings.ContainsAny(key, "}") {
			return "", nil, fmt.Errorf("metric key %q: unbalanced braces", key)
		}
		return key, nil, nil
	}
	if !strings.HasSuffix(key, "}") {
		return "", nil, fmt.Errorf("metric key %q: missing closing }", key)
	}
	name := strings.TrimSpace(key[:open])
	if name == "" {
		return "", nil, fmt.Errorf("metric key %q: missing metric name before {", key)
	}
	body := strings.TrimSpace(key[open+1 : len(key)-1])
	if body == "" {
		return "", nil, fmt.Errorf("metric key %q: empty sub-metric selector {}", key)
	}
	if strings.ContainsAny(body, "{}") {
		return "", nil, fmt.Errorf("metric key %q: nested braces", key)
	}
	var tags [][2]string
	for _, part := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(part, ":")
		k = strings.TrimSpace(k)
		v = unquote(strings.TrimSpace(v))
		if !ok || k == "" {
			return "", nil, fmt.Errorf("metric key %q: selector %q is not tag:value", key, strings.TrimSpace(part))
		}
		tags = append(tags, [2]string{unquote(k), v})
	}
	return name, tags, nil
}

// unquote strips one pair of matching ' or " quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// subKey renders a canonical sub-metric key: name{k:v,k2:v2}.
func subKey(name string, tags [][2]string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t[0])
		b.WriteByte(':')
		b.WriteString(t[1])
	}
	b.WriteByte('}')
	return b.String()
}
