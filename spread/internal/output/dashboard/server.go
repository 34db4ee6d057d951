package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// routes: the page, its data as Server-Sent Events, the data as JSON, and
// the HTML report of the run so far (the page's "report" link).
func (o *Output) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = o.writePage(w, false)
	})
	mux.HandleFunc("GET /events", o.serveEvents)
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(o.snapshot(false))
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="report.html"`)
		_ = o.writePage(w, true)
	})
	return mux
}

// serveEvents streams the run: a "snapshot" event at once (so a page
// opened mid-run has everything), then the hub's "update" events.
func (o *Output) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// Subscribe before taking the snapshot: an update racing with it is
	// sent twice at worst, and the page replaces periods by index.
	ch := o.hub.subscribe()
	defer o.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	snap, err := json.Marshal(o.snapshot(false))
	if err != nil {
		return
	}
	fmt.Fprintf(w, "retry: 1000\n")
	writeEvent(w, "snapshot", snap)
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return // dropped as too slow (the page reconnects), or the end
			}
			writeEvent(w, ev.name, ev.data)
			fl.Flush()
		case <-keep.C:
			// A comment line keeps idle proxies from closing the stream.
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, name string, data []byte) {
	// JSON from encoding/json has no raw newlines, so one data: line holds it.
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	_, _ = w.Write(b.Bytes())
}

type event struct {
	name string
	data []byte
}

// hub fans updates out to the connected pages. A page that does not keep
// up loses its stream (and reconnects for a fresh snapshot): the test run
// never waits for a browser.
type hub struct {
	mu     sync.Mutex
	subs   map[chan event]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan event]struct{}{}} }

func (h *hub) subscribe() chan event {
	ch := make(chan event, 16)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch
	}
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// broadcast queues an event for every page without blocking; it returns
// how many pages were dropped for being too slow.
func (h *hub) broadcast(name string, data []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	dropped := 0
	for ch := range h.subs {
		select {
		case ch <- event{name, data}:
		default:
			delete(h.subs, ch)
			close(ch)
			dropped++
		}
	}
	return dropped
}

// close ends every stream; each page gets a "done" event first, so it
// stops reconnecting.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		select {
		case ch <- event{"done", []byte("{}")}:
		default:
		}
		delete(h.subs, ch)
		close(ch)
	}
}
