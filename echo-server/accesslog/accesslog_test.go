package accesslog

import (
	"bytes"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	var b bytes.Buffer
	l := New(&b)
	l.Log(Entry{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Proto: "HTTP/3.0", Remote: "127.0.0.1:9",
		Method: "GET", Path: "/a b", Status: 200, ConnReq: 3, Duration: 1500 * time.Microsecond,
	})
	want := `2026-01-02T03:04:05.006Z access proto=HTTP/3.0 remote=127.0.0.1:9 method=GET path="/a b" status=200 conn_req=3 dur_ms=1.500` + "\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	var nilLogger *Logger
	nilLogger.Log(Entry{}) // must not panic
}
