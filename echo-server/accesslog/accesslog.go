// Package accesslog writes one line per request.
package accesslog

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// Entry describes one answered request.
type Entry struct {
	Time     time.Time
	Proto    string // HTTP/1.1, HTTP/2.0, HTTP/3.0
	Remote   string
	Method   string
	Path     string
	Status   int
	ConnReq  int // 0 when unknown
	Duration time.Duration
}

// Logger writes entries as key=value lines; a nil *Logger writes nothing.
type Logger struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// New returns a logger writing to w.
func New(w io.Writer) *Logger { return &Logger{w: w} }

// Log writes e as one line, in a single Write so lines never interleave.
func (l *Logger) Log(e Entry) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " access proto="...)
	b = append(b, e.Proto...)
	b = append(b, " remote="...)
	b = append(b, e.Remote...)
	b = append(b, " method="...)
	b = append(b, e.Method...) // servers only accept token methods: no quoting needed
	b = append(b, " path="...)
	b = strconv.AppendQuote(b, e.Path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " conn_req="...)
	b = strconv.AppendInt(b, int64(e.ConnReq), 10)
	b = append(b, " dur_ms="...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', 3, 64)
	b = append(b, '\n')
	l.buf = b
	_, _ = l.w.Write(b)
}
