package k6http

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// http2GoAwayError and http2ConnectionError (h2sync.go) carry the type
// names of net/http's unexported errors, which classify matches.

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "http://x/", Err: err} }
	dial := func(err error) error { return wrap(&net.OpError{Op: "dial", Net: "tcp", Err: err}) }
	read := func(err error) error { return wrap(&net.OpError{Op: "read", Net: "tcp", Err: err}) }
	cases := []struct {
		name string
		err  error
		code int
	}{
		{"request timeout", wrap(errRequestTimeout), 1050},
		{"deadline", wrap(context.DeadlineExceeded), 1050},
		{"invalid url", &url.Error{Op: "parse", URL: "::", Err: errors.New("missing protocol scheme")}, 1020},
		{"dns not found", dial(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}), 1101},
		{"dns other", dial(&net.DNSError{Err: "server misbehaving", Name: "x"}), 1100},
		{"dial timeout", dial(timeoutErr{}), 1211},
		{"dial refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), 1212},
		{"dial unreachable", dial(os.NewSyscallError("connect", syscall.ENETUNREACH)), 1213},
		{"dial other", dial(errors.New("weird")), 1210},
		{"reset", read(os.NewSyscallError("read", syscall.ECONNRESET)), 1220},
		{"broken pipe", wrap(&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}), 1201},
		{"tcp errno", read(os.NewSyscallError("read", syscall.EIO)), 1202},
		{"tcp other", read(errors.New("odd")), 1200},
		{"unknown authority", wrap(x509.UnknownAuthorityError{}), 1310},
		{"hostname", wrap(x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}), 1311},
		{"expired", wrap(x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}), 1300},
		{"tls generic", wrap(errors.New("tls: handshake failure")), 1300},
		{"h2 goaway", wrap(http2GoAwayError{ErrCode: 2}), 1613},
		{"h2 conn", wrap(http2ConnectionError(1)), 1652},
		{"h2 stream", wrap(h2StreamError{StreamID: 1, Code: 8}), 1639},
		{"h2 other", wrap(errors.New("http2: client connection lost")), 1600},
		{"unexpected eof", wrap(io.ErrUnexpectedEOF), 1000},
		{"decompression", fmt.Errorf("%w: gzip: bad", errDecompress), 1701},
		{"generic", errors.New("something"), 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, code := classify(c.err)
			if code != c.code {
				t.Fatalf("classify(%v) = %d %q, want %d", c.err, code, msg, c.code)
			}
			if msg == "" {
				t.Fatal("empty message")
			}
		})
	}
	if msg, code := classify(nil); msg != "" || code != 0 {
		t.Fatalf("nil error: %q %d", msg, code)
	}
}
