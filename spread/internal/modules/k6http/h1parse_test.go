package k6http

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseH1Head(t *testing.T) {
	cases := []struct {
		name, raw, method string
		ok                bool
		status            string
		header            http.Header
		length            int64
		close             bool
		body              string
	}{
		{"common", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Served-By: pod-a\r\nContent-Length: 5\r\n\r\nhello", "GET",
			true, "200 OK", http.Header{"Content-Type": {"application/json"}, "X-Served-By": {"pod-a"}, "Content-Length": {"5"}}, 5, false, "hello"},
		{"no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", true, "404", http.Header{"Content-Length": {"0"}}, 0, false, ""},
		{"lower-case and repeated names", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nx-a:  v \r\n\r\nok", "GET",
			true, "200 OK", http.Header{"Content-Length": {"2"}, "Set-Cookie": {"a=1", "b=2"}, "X-A": {"v"}}, 2, false, "ok"},
		{"redirect, compressed", "HTTP/1.1 302 Found\r\nlocation: /x\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n", "GET",
			true, "302 Found", http.Header{"Location": {"/x"}, "Content-Encoding": {"gzip"}, "Content-Length": {"0"}}, 0, false, ""},
		{"more names than the repeat check holds", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nA: 10\r\nI: 11\r\nContent-Length: 0\r\n\r\n", "GET",
			true, "200 OK", http.Header{"A": {"1", "10"}, "B": {"2"}, "C": {"3"}, "D": {"4"}, "E": {"5"}, "F": {"6"}, "G": {"7"}, "H": {"8"}, "I": {"9", "11"}, "Content-Length": {"0"}}, 0, false, ""},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", "GET",
			true, "200 OK", http.Header{"Content-Length": {"1"}}, 1, true, "x"},
		{"HEAD keeps the length", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HEAD", true, "200 OK", http.Header{"Content-Length": {"1234"}}, 1234, false, ""},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", true, "204 No Content", http.Header{}, 0, false, ""},
		{"chunked falls back", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET", false, "", nil, 0, false, ""},
		{"no length falls back", "HTTP/1.1 200 OK\r\n\r\nbody", "GET", false, "", nil, 0, false, ""},
		{"two lengths fall back", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "GET", false, "", nil, 0, false, ""},
		{"bad length falls back", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "GET", false, "", nil, 0, false, ""},
		{"HTTP/1.0 falls back", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", "GET", false, "", nil, 0, false, ""},
		{"1xx falls back", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false, "", nil, 0, false, ""},
		{"folded line falls back", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", false, "", nil, 0, false, ""},
		{"incomplete head falls back", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "GET", false, "", nil, 0, false, ""},
		{"garbage falls back", "SSH-2.0-OpenSSH\r\n\r\n", "GET", false, "", nil, 0, false, ""},
		{"short status line falls back", "HTTP/1.1 20\r\n\r\n", "GET", false, "", nil, 0, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(c.raw), 4096)
			_, _ = br.Peek(1)
			lazy, ok := parseH1Head(br, c.method)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				if br.Buffered() != len(c.raw) {
					t.Fatalf("fallback consumed input: %d of %d bytes left", br.Buffered(), len(c.raw))
				}
				return
			}
			resp := &lazy.resp
			if resp.Header != nil {
				t.Fatalf("the fast path built a header map: %v", resp.Header)
			}
			header := lazy.Header()
			if resp.Status != c.status || !reflect.DeepEqual(header, c.header) || resp.ContentLength != c.length || resp.Close != c.close {
				t.Fatalf("got status %q header %v length %d close %v", resp.Status, header, resp.ContentLength, resp.Close)
			}
			// Lookups without the map agree with the map.
			for _, name := range []string{"Content-Length", "Set-Cookie", "X-A", "A", "I", "Connection", "Missing", "Location", "Content-Encoding"} {
				if got, want := lazy.Get(name), header.Get(name); got != want {
					t.Errorf("Get(%q) = %q, the header says %q", name, got, want)
				}
				if got, want := lazy.Has(name), len(header[name]) > 0; got != want {
					t.Errorf("Has(%q) = %v, the header says %v", name, got, want)
				}
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != c.body {
				t.Fatalf("body %q, %v", body, err)
			}
			// The same bytes through net/http's parser give the same answer.
			std, err := http.ReadResponse(bufio.NewReader(strings.NewReader(c.raw)), &http.Request{Method: c.method})
			if err != nil {
				t.Fatal(err)
			}
			if std.StatusCode != resp.StatusCode || std.Close != resp.Close || !reflect.DeepEqual(std.Header, header) {
				t.Fatalf("net/http disagrees: %d %v %v", std.StatusCode, std.Close, std.Header)
			}
		})
	}
}

func TestFixedBodyShortRead(t *testing.T) {
	b := &fixedBody{r: bufio.NewReader(strings.NewReader("abc")), left: 10}
	if _, err := io.ReadAll(b); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want unexpected EOF", err)
	}
}
