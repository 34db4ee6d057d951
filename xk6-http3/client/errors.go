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
)

// Error codes of failed requests (the error_code tag). The 1xxx ranges
// follow k6's (10xx general, 11xx DNS, 12xx connection, 13xx TLS); 17xx
// is this client's range for QUIC and HTTP/3 failures, which k6 does not
// define.
const (
	CodeGeneric           = 1000 // anything not classified below
	CodeInvalidURL        = 1020 // the URL does not parse or is not https://
	CodeRequestTimeout    = 1050 // the request's own timeout expired
	CodeCanceled          = 1051 // the caller's context ended (VU stopped)
	CodeDNS               = 1100 // name resolution failed
	CodeConnRefused       = 1202 // ICMP port unreachable reported as ECONNREFUSED
	CodeNetUnreachable    = 1203 // ICMP network/host unreachable
	CodeTLS               = 1300 // other TLS failure during the handshake
	CodeTLSUnknownAuth    = 1310 // certificate signed by an unknown authority
	CodeTLSHostname       = 1311 // certificate not valid for the server name
	CodeQUIC              = 1700 // other QUIC transport error
	CodeHandshakeTimeout  = 1701 // no handshake completion within handshakeTimeout
	CodeIdleTimeout       = 1702 // nothing received for idleTimeout on an open connection
	CodeStatelessReset    = 1703 // the peer answered with a stateless reset (it lost the connection state)
	CodeApplicationClose  = 1704 // the peer closed the connection with an HTTP/3 error code (in the message)
	CodeStreamReset       = 1705 // the peer reset the request stream (H3 code in the message)
	CodeVersionMismatch   = 1706 // QUIC version negotiation failed
	CodeTransportClose    = 1707 // the peer closed the connection with a QUIC transport error
	CodeGracefulClose     = 1708 // the connection closed gracefully (H3_NO_ERROR / GOAWAY) and the request could not be retried
	CodeLocalClose        = 1709 // the connection was closed on this side (client closed)
	CodeResponseBodyError = 1710 // the response body could not be read to its end
)

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
	if code == CodeRequestTimeout {
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
		return CodeRequestTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.As(err, &hsTimeout):
		return CodeHandshakeTimeout
	case errors.As(err, &idleTimeout):
		return CodeIdleTimeout
	case errors.As(err, &reset):
		return CodeStatelessReset
	case errors.As(err, &version):
		return CodeVersionMismatch
	case errors.As(err, &unknownAuth):
		return CodeTLSUnknownAuth
	case errors.As(err, &hostname):
		return CodeTLSHostname
	case errors.As(err, &certInvalid), errors.As(err, &certVerify):
		return CodeTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return CodeConnRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return CodeNetUnreachable
	case errors.As(err, &streamErr):
		return CodeStreamReset
	case errors.As(err, &h3Err):
		if _, isStream := errors.AsType[*quic.StreamError](err); isStream {
			return CodeStreamReset
		}
		if !h3Err.Remote {
			return CodeLocalClose
		}
		if h3Err.ErrorCode == http3.ErrCodeNoError {
			return CodeGracefulClose
		}
		return CodeApplicationClose
	case errors.As(err, &appErr):
		if !appErr.Remote {
			return CodeLocalClose
		}
		if appErr.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError) {
			return CodeGracefulClose
		}
		return CodeApplicationClose
	case errors.As(err, &transport):
		if transport.ErrorCode >= 0x100 && transport.ErrorCode < 0x200 {
			return CodeTLS // a TLS alert carried as a QUIC crypto error
		}
		if transport.Remote {
			return CodeTransportClose
		}
		return CodeQUIC
	case errors.As(err, &dnsErr):
		return CodeDNS
	case errors.As(err, &urlErr):
		return CodeInvalidURL
	case strings.Contains(err.Error(), "connection in graceful shutdown"):
		return CodeGracefulClose
	}
	return CodeGeneric
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

var errClientClosed = &Error{Code: CodeLocalClose, Msg: "http3 client closed"}

func invalidURL(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidURL, Msg: fmt.Sprintf(format, args...)}
}
