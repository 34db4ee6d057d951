package k6http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"syscall"

	"spread.dev/spread/ext/httpkit"
)

// Error codes: httpkit's table (k6's documented codes), shared with k6/x/http3.

// errRequestTimeout marks a request that outlived its params.timeout.
var errRequestTimeout = errors.New("request timeout")

// errDecompress marks a response body that failed to decompress.
var errDecompress = errors.New("decompression error")

// classify maps a transport error to k6's (message, code). The message is
// short and stable (it becomes the `error` tag, so it must not carry
// per-request details such as ports that would explode tag cardinality).
func classify(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	if errors.Is(err, errRequestTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return "request timeout", httpkit.CodeRequestTimeout
	}
	if errors.Is(err, errDecompress) {
		return unwrapMessage(err), httpkit.CodeDecompression
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Op == "parse" {
		return "invalid URL", httpkit.CodeInvalidURL
	}
	if msg, code, ok := classifyHTTP2(err); ok {
		return msg, code
	}
	if msg, code, ok := classifyTLS(err); ok {
		return msg, code
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "lookup " + dnsErr.Name + ": no such host", httpkit.CodeDNSNoIP
		}
		return "lookup " + dnsErr.Name + ": " + dnsErr.Err, httpkit.CodeDNS
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		if opErr.Op == "dial" {
			switch {
			case opErr.Timeout():
				return "dial: i/o timeout", httpkit.CodeDialTimeout
			case errors.Is(err, syscall.ECONNREFUSED):
				return "dial: connection refused", httpkit.CodeDialRefused
			}
			var errno syscall.Errno
			if errors.As(err, &errno) {
				return "dial: " + errno.Error(), httpkit.CodeDialUnknown
			}
			return "dial: " + unwrapMessage(opErr.Err), httpkit.CodeDial
		}
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			return opErr.Op + ": connection reset by peer", httpkit.CodeResetByPeer
		case errors.Is(err, syscall.EPIPE):
			return opErr.Op + ": broken pipe", httpkit.CodeBrokenPipe
		case opErr.Timeout():
			return "request timeout", httpkit.CodeRequestTimeout
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return opErr.Op + ": " + errno.Error(), httpkit.CodeTCPUnknownErrno
		}
		return opErr.Op + ": " + unwrapMessage(opErr.Err), httpkit.CodeTCP
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer", httpkit.CodeResetByPeer
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe", httpkit.CodeBrokenPipe
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial: connection refused", httpkit.CodeDialRefused
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "request timeout", httpkit.CodeRequestTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF", httpkit.CodeGeneric
	case errors.Is(err, io.EOF):
		return "EOF", httpkit.CodeGeneric
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return "request timeout", httpkit.CodeRequestTimeout
	}
	return unwrapMessage(err), httpkit.CodeGeneric
}

// unwrapMessage drops url.Error's `Get "http://...":` prefix, which repeats
// the URL (already a tag) in every error value.
func unwrapMessage(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

func classifyTLS(err error) (string, int, bool) {
	var unknownAuth x509.UnknownAuthorityError
	if errors.As(err, &unknownAuth) {
		return "x509: certificate signed by unknown authority", httpkit.CodeTLSUnknownAuth, true
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return "x509: certificate is not valid for " + hostErr.Host, httpkit.CodeTLSHostMismatch, true
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		return unwrapMessage(err), httpkit.CodeTLS, true
	}
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	if errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &rec) {
		return unwrapMessage(err), httpkit.CodeTLS, true
	}
	if strings.Contains(err.Error(), "tls: ") {
		return unwrapMessage(err), httpkit.CodeTLS, true
	}
	return "", 0, false
}

// h2StreamError mirrors net/http's unexported http2StreamError, which
// implements errors.As into any struct with the same fields.
type h2StreamError struct {
	StreamID uint32
	Code     uint32
	Cause    error
}

func (e h2StreamError) Error() string { return "http2: stream error: " + h2CodeName(uint64(e.Code)) }

// h2Codes are RFC 7540 section 7 error code names as Go prints them.
var h2Codes = []string{"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
	"COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"}

func h2CodeName(c uint64) string {
	if c < uint64(len(h2Codes)) {
		return h2Codes[c]
	}
	return "unknown"
}

// classifyHTTP2 recognises net/http's bundled HTTP/2 errors. Their types are
// unexported, so GOAWAY and connection errors are found by type name and
// read through reflection (read-only, which reflect allows).
func classifyHTTP2(err error) (string, int, bool) {
	var se h2StreamError
	if errors.As(err, &se) {
		code := httpkit.CodeHTTP2Stream
		if se.Code <= 18 {
			code = httpkit.CodeHTTP2Stream + 1 + int(se.Code)
		}
		return "http2: stream error: " + h2CodeName(uint64(se.Code)), code, true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		switch v.Type().Name() {
		case "http2GoAwayError":
			if f := v.FieldByName("ErrCode"); f.IsValid() && f.CanUint() {
				c := f.Uint()
				if c <= 18 {
					return "http2: server sent GOAWAY: " + h2CodeName(c), httpkit.CodeHTTP2GoAway + 1 + int(c), true
				}
			}
			return "http2: server sent GOAWAY", httpkit.CodeHTTP2GoAway, true
		case "http2ConnectionError":
			if v.CanUint() {
				c := v.Uint()
				if c <= 18 {
					return "http2: connection error: " + h2CodeName(c), httpkit.CodeHTTP2Conn + 1 + int(c), true
				}
			}
			return "http2: connection error", httpkit.CodeHTTP2Conn, true
		}
	}
	if msg := err.Error(); strings.Contains(msg, "http2: ") {
		return unwrapMessage(err), httpkit.CodeHTTP2, true
	}
	return "", 0, false
}
