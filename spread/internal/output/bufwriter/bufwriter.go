// Package bufwriter is the file side shared by the file outputs (json, csv):
// it opens FILE ("-" is stdout, a ".gz" suffix gzips), queues samples without
// blocking the caller, and encodes and writes them in batches from a
// goroutine of its own.
package bufwriter

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// BatchBytes is how much encoded text is gathered before one write, so a
// crash leaves whole lines on disk rather than a line cut mid-way.
const BatchBytes = 256 << 10

// Config describes one output file and its encoding.
type Config struct {
	Name     string        // output name for error messages, e.g. "json"
	Path     string        // FILE: "-" is Stdout, a ".gz" suffix gzips
	Stdout   io.Writer     // where "-" writes (nil: os.Stdout)
	Interval time.Duration // how often queued samples are written; 0: as soon as they arrive

	// Header, if set, writes the file's first lines into buf at Start.
	Header func(buf *bytes.Buffer)
	// Encode appends one sample's text to buf; it runs on the writer
	// goroutine only, so encoders need no lock.
	Encode func(buf *bytes.Buffer, s *ext.Sample)
	// Flush, if set, runs before each write, for encoders that buffer
	// (encoding/csv's Writer).
	Flush func()
}

// Writer queues samples and writes them to the file from its own goroutine.
type Writer struct {
	cfg Config

	w    io.Writer // file or stdout, or gz above them when gzipping
	file *os.File
	gz   *gzip.Writer
	buf  bytes.Buffer
	werr error // first write error, reported by Stop
	good int64 // bytes of the file that hold whole batches (whole lines)

	mu      sync.Mutex
	pending []ext.Sample
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
	stopped bool
}

// New returns a Writer for cfg; nothing is opened before Start.
func New(cfg Config) *Writer {
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	return &Writer{cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Start opens the file, writes the header and starts the writer goroutine.
func (w *Writer) Start() error {
	if w.cfg.Path == "-" {
		w.w = w.cfg.Stdout
	} else {
		f, err := os.Create(w.cfg.Path)
		if err != nil {
			return fmt.Errorf("%s output: %w", w.cfg.Name, err)
		}
		w.file, w.w = f, f
	}
	if strings.HasSuffix(w.cfg.Path, ".gz") {
		w.gz = gzip.NewWriter(w.w)
		w.w = w.gz
	}
	if w.cfg.Header != nil {
		w.cfg.Header(&w.buf)
		w.write()
	}
	w.mu.Lock()
	w.started = true
	w.mu.Unlock()
	go w.loop()
	return nil
}

// Add queues samples for the writer; it never blocks on I/O, and drops
// samples once Stop has been called.
func (w *Writer) Add(samples []ext.Sample) {
	if len(samples) == 0 {
		return
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.pending = append(w.pending, samples...)
	w.mu.Unlock()
	if w.cfg.Interval == 0 {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already due
		}
	}
}

// Stop writes what is queued, flushes and closes the file; it returns the
// first write or close error.
func (w *Writer) Stop() error {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	close(w.stop)
	<-w.done
	err := w.werr
	if w.gz != nil {
		if cerr := w.gz.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if w.file != nil {
		if cerr := w.file.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("%s output %s: %w", w.cfg.Name, w.cfg.Path, err)
	}
	return nil
}

// loop is the writer goroutine, owned by the Writer and ended by Stop: it
// writes on each wake-up (Interval 0) or each tick.
func (w *Writer) loop() {
	defer close(w.done)
	var tick <-chan time.Time
	if w.cfg.Interval > 0 {
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-w.wake:
			w.drain()
		case <-tick:
			w.drain()
		case <-w.stop:
			w.drain()
			return
		}
	}
}

// drain encodes and writes everything queued.
func (w *Writer) drain() {
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		w.mu.Unlock()
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			w.cfg.Encode(&w.buf, &batch[i])
			if w.buf.Len() >= BatchBytes {
				w.write()
			}
		}
	}
	w.write()
	if w.gz != nil && w.werr == nil {
		// Push compressed data out at each pause so `tail` of a .gz works too.
		w.werr = w.gz.Flush()
	}
}

// write sends the encoded text to the file; after an error it only drops
// the text, and Stop reports the error.
func (w *Writer) write() {
	if w.cfg.Flush != nil {
		w.cfg.Flush()
	}
	if w.buf.Len() == 0 {
		return
	}
	if w.werr == nil {
		b := w.buf.Bytes()
		var n int
		n, w.werr = w.w.Write(b)
		if w.werr != nil && w.file != nil && w.gz == nil {
			// A full disk takes part of a batch: cut the file back to the
			// last newline that made it, so it ends with a complete line.
			keep := w.good + int64(bytes.LastIndexByte(b[:n], '\n')+1)
			if terr := w.file.Truncate(keep); terr == nil {
				w.werr = fmt.Errorf("%w (the file keeps the %d bytes of complete lines written before)", w.werr, keep)
			}
		}
		w.good += int64(n)
	}
	w.buf.Reset()
}
