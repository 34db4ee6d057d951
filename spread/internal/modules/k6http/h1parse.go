package k6http

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
)

// parseH1Head parses a common response head straight from the reader's
// buffer: HTTP/1.1, no 1xx, no Transfer-Encoding, no folded lines, and a
// single Content-Length (or no body by status or method). It allocates a
// handful of objects where http.ReadResponse allocates per header. When
// the head is anything else, or not fully buffered yet, it returns
// ok=false having consumed nothing, and the caller uses http.ReadResponse.
func parseH1Head(br *bufio.Reader, method string) (resp *http.Response, ok bool) {
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, false
	}
	head := string(buf[:end+2]) // one allocation holds every name and value
	line, rest, _ := cutCRLF(head)
	if len(line) < 12 || line[:9] != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return nil, false
	}
	code, err := strconv.Atoi(line[9:12])
	if err != nil || code < 200 || code > 999 {
		return nil, false
	}
	resp = &http.Response{Status: line[9:], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: -1}
	// Count the lines to size the header map and one backing array.
	n := 0
	for i := 0; i+1 < len(rest); i++ {
		if rest[i] == '\r' && rest[i+1] == '\n' {
			n++
		}
	}
	h := make(http.Header, n)
	vals := make([]string, n)
	lengths := 0
	for rest != "" {
		line, rest, _ = cutCRLF(rest)
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return nil, false // obsolete line folding
		}
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 {
			return nil, false
		}
		key := line[:colon]
		if !isCanonical(key) {
			key = textproto.CanonicalMIMEHeaderKey(key)
			if !validHeaderName(key) {
				return nil, false
			}
		}
		v := trimOWS(line[colon+1:])
		switch key {
		case "Transfer-Encoding":
			return nil, false
		case "Content-Length":
			cl, err := strconv.ParseInt(v, 10, 64)
			if err != nil || cl < 0 {
				return nil, false
			}
			lengths++
			resp.ContentLength = cl
		case "Connection":
			if hasToken([]string{v}, "close") {
				resp.Close = true
				continue // net/http drops it from the response's header too
			}
		}
		vals[0] = v
		if old, dup := h[key]; dup {
			h[key] = append(old, v)
		} else {
			h[key] = vals[:1:1]
		}
		vals = vals[1:]
	}
	resp.Header = h
	noBody := method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	switch {
	case noBody:
		resp.Body = http.NoBody
		if method != http.MethodHead {
			resp.ContentLength = 0
		}
	case lengths != 1:
		return nil, false // unbounded body or conflicting lengths: let net/http decide
	default:
		resp.Body = &fixedBody{r: br, left: resp.ContentLength}
	}
	_, _ = br.Discard(end + 4)
	return resp, true
}

func cutCRLF(s string) (line, rest string, found bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return s[:i], s[i+2:], true
		}
	}
	return s, "", false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isCanonical reports whether k is already in canonical MIME form
// (Content-Type), the common case, which then needs no copy.
func isCanonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-':
			upper = true
			continue
		case upper && 'a' <= c && c <= 'z', !upper && 'A' <= c && c <= 'Z':
			return false
		case c <= ' ' || c >= 0x7f || c == ':':
			return false
		}
		upper = false
	}
	return k != ""
}

// fixedBody reads a Content-Length body from the connection's reader.
type fixedBody struct {
	r    *bufio.Reader
	left int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fixedBody) Close() error { return nil }
