package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/spread/ext/httpkit"
)

// Error codes: httpkit's one table (k6's codes, plus spread's QUIC and
// HTTP/3 range), shared with k6/http.

// Error is a failed request: a code from the table above and a message.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Classify maps an error of a request to its error code and message.
func Classify(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code, e.Msg
	}
	msg := err.Error()
	code := classifyCode(err)
	if code == httpkit.CodeRequestTimeout {
		msg = "request timeout"
	}
	return code, msg
}

func classifyCode(err error) int {
	var (
		hsTimeout   *quic.HandshakeTimeoutError
		idleTimeout *quic.IdleTimeoutError
		reset       *quic.StatelessResetError
		version     *quic.VersionNegotiationError
		transport   *quic.TransportError
		appErr      *quic.ApplicationError
		h3Err       *http3.Error
		streamErr   *quic.StreamError
		unknownAuth x509.UnknownAuthorityError
		hostname    x509.HostnameError
		certInvalid x509.CertificateInvalidError
		certVerify  *tls.CertificateVerificationError
		dnsErr      *net.DNSError
		urlErr      *url.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return httpkit.CodeRequestTimeout
	case errors.Is(err, context.Canceled):
		return httpkit.CodeCanceled
	case errors.As(err, &hsTimeout):
		return httpkit.CodeHandshakeTimeout
	case errors.As(err, &idleTimeout):
		return httpkit.CodeIdleTimeout
	case errors.As(err, &reset):
		return httpkit.CodeStatelessReset
	case errors.As(err, &version):
		return httpkit.CodeVersionMismatch
	case errors.As(err, &unknownAuth):
		return httpkit.CodeTLSUnknownAuth
	case errors.As(err, &hostname):
		return httpkit.CodeTLSHostMismatch
	case errors.As(err, &certInvalid), errors.As(err, &certVerify):
		return httpkit.CodeTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return httpkit.CodeDialRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return httpkit.CodeNetUnreachable
	case errors.As(err, &streamErr):
		return httpkit.CodeStreamReset
	case errors.As(err, &h3Err):
		if _, isStream := errors.AsType[*quic.StreamError](err); isStream {
			return httpkit.CodeStreamReset
		}
		if !h3Err.Remote {
			return httpkit.CodeLocalClose
		}
		if h3Err.ErrorCode == http3.ErrCodeNoError {
			return httpkit.CodeGracefulClose
		}
		return httpkit.CodeApplicationClose
	case errors.As(err, &appErr):
		if !appErr.Remote {
			return httpkit.CodeLocalClose
		}
		if appErr.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError) {
			return httpkit.CodeGracefulClose
		}
		return httpkit.CodeApplicationClose
	case errors.As(err, &transport):
		if transport.ErrorCode >= 0x100 && transport.ErrorCode < 0x200 {
			return httpkit.CodeTLS // a TLS alert carried as a QUIC crypto error
		}
		if transport.Remote {
			return httpkit.CodeTransportClose
		}
		return httpkit.CodeQUIC
	case errors.As(err, &dnsErr):
		return httpkit.CodeDNS
	case errors.As(err, &urlErr):
		return httpkit.CodeInvalidURL
	case strings.Contains(err.Error(), "connection in graceful shutdown"):
		return httpkit.CodeGracefulClose
	}
	return httpkit.CodeGeneric
}

// retryKind says whether and how a request that failed with err before
// any response arrived may be sent again on a new connection.
type retryKind int

const (
	noRetry retryKind = iota
	// retryNotSent: the request never reached the application (the
	// connection was unusable or under GOAWAY, or the stream was rejected
	// with H3_REQUEST_REJECTED); always safe.
	retryNotSent
	// retryIdempotent: the peer closed the connection gracefully (H3_NO_ERROR)
	// while the request was out; it may have been processed, so only
	// idempotent methods go again.
	retryIdempotent
)

func retryable(err error, method string) retryKind {
	if err == nil {
		return noRetry
	}
	if strings.Contains(err.Error(), "http3: conn unusable") {
		return retryNotSent
	}
	// quic-go's ClientConn closes the connection itself (H3_NO_ERROR, local)
	// once a GOAWAY arrived and no stream is active; a request opened in
	// that instant has a stream ID above the GOAWAY's, which the server
	// promised not to process. (The caller never retries once the Client
	// itself was closed, the other source of local closes.)
	if h3Err, ok := errors.AsType[*http3.Error](err); ok && !h3Err.Remote && h3Err.ErrorCode == http3.ErrCodeNoError {
		return retryNotSent
	}
	if appErr, ok := errors.AsType[*quic.ApplicationError](err); ok && !appErr.Remote &&
		appErr.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError) {
		return retryNotSent
	}
	if h3Err, ok := errors.AsType[*http3.Error](err); ok && h3Err.Remote {
		if h3Err.ErrorCode == http3.ErrCodeRequestRejected {
			return retryNotSent
		}
		if h3Err.ErrorCode == http3.ErrCodeNoError && idempotent(method) {
			return retryIdempotent
		}
	}
	if appErr, ok := errors.AsType[*quic.ApplicationError](err); ok && appErr.Remote &&
		appErr.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError) && idempotent(method) {
		return retryIdempotent
	}
	return noRetry
}

func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// wrapErr attaches the classified code to err.
func wrapErr(err error) *Error {
	code, msg := Classify(err)
	return &Error{Code: code, Msg: msg, Err: err}
}

var errClientClosed = &Error{Code: httpkit.CodeLocalClose, Msg: "http3 client closed"}

func invalidURL(format string, args ...any) *Error {
	return &Error{Code: httpkit.CodeInvalidURL, Msg: fmt.Sprintf(format, args...)}
}
