package k6http

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// parseH1Head parses a common response head straight from the reader's
// buffer: HTTP/1.1, no 1xx, no Transfer-Encoding, no folded lines, and a
// single Content-Length (or no body by status or method). When the head
// is anything else, or not fully buffered yet, it returns ok=false having
// consumed nothing, and the caller uses http.ReadResponse.
//
// The header is checked here but kept as the head's text: the map is
// built only when something asks for the whole header (the script reads
// res.headers, cookies are stored); the lookups of every request (the
// pod's header, Content-Encoding) scan the few lines instead. Building
// the map was the largest part of parsing a response (issue 17).
func parseH1Head(br *bufio.Reader, method string) (h *h1Response, ok bool) {
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
	h = &h1Response{head: rest}
	resp := &h.resp
	*resp = http.Response{Status: line[9:], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: -1}
	lengths := 0
	for rest != "" {
		var key, v string
		key, v, rest, ok = nextField(rest)
		if !ok {
			return nil, false
		}
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
			}
		}
		h.seen |= knownBit(key)
		h.fields++
	}
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
		h.body = fixedBody{r: br, left: resp.ContentLength}
		resp.Body = &h.body
	}
	_, _ = br.Discard(end + 4)
	return h, true
}

// nextField cuts the first header field off head (lines ending in CRLF):
// its canonical name, its value without surrounding blanks, and the rest.
// ok is false for what the fast path leaves to net/http: folded lines, no
// colon, invalid names.
func nextField(head string) (key, value, rest string, ok bool) {
	line, rest, _ := cutCRLF(head)
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return "", "", "", false // obsolete line folding
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 {
		return "", "", "", false
	}
	key = line[:colon]
	if !isCanonical(key) {
		key = textproto.CanonicalMIMEHeaderKey(key)
		if !validHeaderName(key) {
			return "", "", "", false
		}
	}
	return key, trimOWS(line[colon+1:]), rest, true
}

// h1Response is what parseH1Head allocates, in one piece: the response,
// its body reader, and the header fields as received (head). It is the
// request's httpkit.HeaderSource.
type h1Response struct {
	resp   http.Response
	body   fixedBody
	head   string // the header lines, each ending in CRLF (checked by parseH1Head)
	fields int
	seen   uint8 // knownBit of the fields present: most lookups are of absent ones
}

// knownBit flags the names every request looks up (cookies to store, a
// compressed body, a redirect), so that a lookup of an absent one does
// not scan the head.
func knownBit(name string) uint8 {
	switch name {
	case "Set-Cookie":
		return 1
	case "Content-Encoding":
		return 2
	case "Location":
		return 4
	}
	return 0
}

// absent reports whether name is known not to be in the head.
func (h *h1Response) absent(name string) bool {
	b := knownBit(name)
	return b != 0 && h.seen&b == 0
}

// dropped reports the fields net/http leaves out of a response's header:
// Connection when it says close (it becomes resp.Close).
func dropped(key, v string) bool { return key == "Connection" && hasToken([]string{v}, "close") }

// Get returns the first value of the field called name (canonical), as
// http.Header.Get would on the header Header builds.
func (h *h1Response) Get(name string) string {
	if h.absent(name) {
		return ""
	}
	for rest := h.head; rest != ""; {
		var key, v string
		key, v, rest, _ = nextField(rest)
		if key == name && !dropped(key, v) {
			return v
		}
	}
	return ""
}

// Has reports whether the header has a field called name (canonical).
func (h *h1Response) Has(name string) bool {
	if h.absent(name) {
		return false
	}
	for rest := h.head; rest != ""; {
		var key, v string
		key, v, rest, _ = nextField(rest)
		if key == name && !dropped(key, v) {
			return true
		}
	}
	return false
}

// Header builds the response's header, as http.ReadResponse would.
func (h *h1Response) Header() http.Header {
	hdr := make(http.Header, h.fields)
	vals := make([]string, h.fields) // one backing array for the single values
	for rest := h.head; rest != ""; {
		var key, v string
		key, v, rest, _ = nextField(rest)
		if dropped(key, v) {
			continue
		}
		if old, dup := hdr[key]; dup {
			hdr[key] = append(old, v)
			continue
		}
		vals[0] = v
		hdr[key] = vals[:1:1]
		vals = vals[1:]
	}
	return hdr
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
