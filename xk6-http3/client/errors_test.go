package client

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/spread/ext/httpkit"
)

func TestClassifyAndRetry(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		method string
		code   int
		retry  retryKind
	}{
		{"timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), "GET", httpkit.CodeRequestTimeout, noRetry},
		{"canceled", context.Canceled, "GET", httpkit.CodeCanceled, noRetry},
		{"handshake timeout", &quic.HandshakeTimeoutError{}, "GET", httpkit.CodeHandshakeTimeout, noRetry},
		{"idle timeout", &quic.IdleTimeoutError{}, "GET", httpkit.CodeIdleTimeout, noRetry},
		{"stateless reset", &quic.StatelessResetError{}, "GET", httpkit.CodeStatelessReset, noRetry},
		{"refused", fmt.Errorf("write: %w", syscall.ECONNREFUSED), "GET", httpkit.CodeDialRefused, noRetry},
		{"unknown authority", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), "GET", httpkit.CodeTLSUnknownAuth, noRetry},
		{"crypto error", &quic.TransportError{ErrorCode: 0x12a}, "GET", httpkit.CodeTLS, noRetry},
		{"peer transport error", &quic.TransportError{ErrorCode: quic.ProtocolViolation, Remote: true}, "GET", httpkit.CodeTransportClose, noRetry},
		{"peer app close", &http3.Error{Remote: true, ErrorCode: http3.ErrCodeInternalError}, "GET", httpkit.CodeApplicationClose, noRetry},
		{"graceful close, GET", &http3.Error{Remote: true, ErrorCode: http3.ErrCodeNoError}, "GET", httpkit.CodeGracefulClose, retryIdempotent},
		{"graceful close, POST", &http3.Error{Remote: true, ErrorCode: http3.ErrCodeNoError}, "POST", httpkit.CodeGracefulClose, noRetry},
		{"quic graceful close, PUT", &quic.ApplicationError{Remote: true, ErrorCode: 0x100}, "PUT", httpkit.CodeGracefulClose, retryIdempotent},
		{"rejected, POST", &http3.Error{Remote: true, ErrorCode: http3.ErrCodeRequestRejected}, "POST", httpkit.CodeApplicationClose, retryNotSent},
		{"closed after GOAWAY, POST", &http3.Error{Remote: false, ErrorCode: http3.ErrCodeNoError}, "POST", httpkit.CodeLocalClose, retryNotSent},
		{"unusable", errors.New("http3: conn unusable: connection in graceful shutdown"), "POST", httpkit.CodeGracefulClose, retryNotSent},
		{"other", errors.New("boom"), "GET", httpkit.CodeGeneric, noRetry},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := Classify(tc.err); code != tc.code {
				t.Errorf("code %d, want %d", code, tc.code)
			}
			if got := retryable(tc.err, tc.method); got != tc.retry {
				t.Errorf("retry %d, want %d", got, tc.retry)
			}
		})
	}
}
