package js

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// Logger writes the run's log lines (console.* and script errors) to one
// writer, as logfmt or JSON lines.
type Logger struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// NewLogger returns a logger writing to w; format is "json" or anything
// else for logfmt.
func NewLogger(w io.Writer, format string) *Logger {
	return &Logger{w: w, json: format == "json"}
}

// SetOutput switches the writer (e.g. to a progress display that prints
// lines above its bars) and returns the previous one.
func (l *Logger) SetOutput(w io.Writer) io.Writer {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.w
	l.w = w
	return old
}

// Field is one extra key=value of a log line.
type Field struct {
	Key   string
	Value any
}

// redactor, when set, rewrites every log line's message and string
// fields (k6/secrets hides the secrets a script read).
var redactor atomic.Pointer[func(string) string]

// SetRedactor installs f for every Logger of the process (nil: none).
func SetRedactor(f func(string) string) {
	if f == nil {
		redactor.Store(nil)
		return
	}
	redactor.Store(&f)
}

// Log writes one line with a level ("debug", "info", "warn", "error").
func (l *Logger) Log(level, msg string, fields ...Field) {
	if l == nil {
		return
	}
	if r := redactor.Load(); r != nil {
		msg = (*r)(msg)
		for i, f := range fields {
			if s, ok := f.Value.(string); ok {
				fields[i].Value = (*r)(s)
			}
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var line []byte
	if l.json {
		m := map[string]any{"time": now, "level": level, "msg": msg}
		for _, f := range fields {
			m[f.Key] = f.Value
		}
		line, _ = json.Marshal(m)
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "time=%q level=%s msg=%s", now, level, logfmtValue(msg))
		for _, f := range fields {
			fmt.Fprintf(&b, " %s=%s", f.Key, logfmtValue(fmt.Sprint(f.Value)))
		}
		line = []byte(b.String())
	}
	line = append(line, '\n')
	l.mu.Lock()
	if l.w != nil {
		_, _ = l.w.Write(line)
	}
	l.mu.Unlock()
}

func logfmtValue(s string) string {
	if s == "" || strings.ContainsAny(s, " =\"\t\n\\") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// Console builds the `console` object of one VU runtime; fields add
// context such as the VU id to every line.
func Console(rt *goja.Runtime, l *Logger, fields func() []Field) *goja.Object {
	o := rt.NewObject()
	mk := func(level string) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			parts := make([]string, len(call.Arguments))
			for i, a := range call.Arguments {
				parts[i] = Format(rt, a)
			}
			fs := []Field{{"source", "console"}}
			if fields != nil {
				fs = append(fs, fields()...)
			}
			l.Log(level, strings.Join(parts, " "), fs...)
			return goja.Undefined()
		}
	}
	_ = o.Set("log", mk("info"))
	_ = o.Set("info", mk("info"))
	_ = o.Set("warn", mk("warn"))
	_ = o.Set("error", mk("error"))
	_ = o.Set("debug", mk("debug"))
	return o
}

// Format renders a JS value for a log line: strings as they are, errors
// with their message, other objects as JSON (as k6 prints them).
func Format(rt *goja.Runtime, v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return v.String()
	}
	if _, isFn := goja.AssertFunction(v); isFn {
		return "[function]"
	}
	if o.ClassName() == "Error" {
		return v.String()
	}
	b, err := json.Marshal(o.Export())
	if err != nil {
		return v.String()
	}
	return string(b)
}
