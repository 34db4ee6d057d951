package httpkit

// The one table of error codes of failed requests (the error_code tag and
// res.error_code), shared by k6/http, k6/x/http3 and any module using this
// kit, so a script or dashboard switching on a code means the same thing
// for every protocol.
//
// The 1xxx codes are k6's documented ones (javascript-api/error-codes):
// 10xx general, 11xx DNS, 12xx TCP, 13xx TLS, 1400-1599 HTTP 4xx/5xx
// (CodeHTTPStatus), 16xx HTTP/2, 1701 decompression. k6 defines nothing
// for QUIC and HTTP/3: spread's own codes for them are 1051, 1203 and the
// 18xx range (18xx because k6 took 1701).
const (
	CodeGeneric        = 1000 // anything not classified below
	CodeNonTCPNetwork  = 1010 // a network other than TCP
	CodeInvalidURL     = 1020 // the URL does not parse (or has the wrong scheme)
	CodeRequestTimeout = 1050 // the request's own timeout expired
	CodeCanceled       = 1051 // spread: the caller's context ended (VU stopped)

	CodeDNS     = 1100 // name resolution failed
	CodeDNSNoIP = 1101 // no IP address for the host

	CodeTCP             = 1200 // other TCP error
	CodeBrokenPipe      = 1201 // broken pipe on write
	CodeTCPUnknownErrno = 1202 // unknown errno on write
	CodeNetUnreachable  = 1203 // spread: ICMP network/host unreachable
	CodeDial            = 1210 // other dial error
	CodeDialTimeout     = 1211 // dial timeout
	CodeDialRefused     = 1212 // connection refused (for UDP: ICMP port unreachable)
	CodeDialUnknown     = 1213 // dial: unknown errno
	CodeResetByPeer     = 1220 // connection reset by peer

	CodeTLS             = 1300 // other TLS failure
	CodeTLSUnknownAuth  = 1310 // certificate signed by an unknown authority
	CodeTLSHostMismatch = 1311 // certificate not valid for the server name

	CodeHTTP2       = 1600 // other HTTP/2 error
	CodeHTTP2GoAway = 1610 // GOAWAY; 1611-1629: GOAWAY with code (1611+code)
	CodeHTTP2Stream = 1630 // stream error; 1631-1649: with code (1631+code)
	CodeHTTP2Conn   = 1650 // connection error; 1651-1669: with code (1651+code)

	CodeDecompression = 1701 // the response body failed to decompress

	CodeQUIC              = 1800 // spread: other QUIC transport error
	CodeHandshakeTimeout  = 1801 // spread: no QUIC handshake within the handshake timeout
	CodeIdleTimeout       = 1802 // spread: nothing received for the idle timeout on an open connection
	CodeStatelessReset    = 1803 // spread: the peer answered with a stateless reset (lost the connection state)
	CodeApplicationClose  = 1804 // spread: the peer closed the connection with an HTTP/3 error code
	CodeStreamReset       = 1805 // spread: the peer reset the request stream
	CodeVersionMismatch   = 1806 // spread: QUIC version negotiation failed
	CodeTransportClose    = 1807 // spread: the peer closed the connection with a QUIC transport error
	CodeGracefulClose     = 1808 // spread: graceful close (H3_NO_ERROR / GOAWAY) and the request could not be retried
	CodeLocalClose        = 1809 // spread: the connection was closed on this side
	CodeResponseBodyError = 1810 // spread: the response body could not be read to its end
)

// CodeHTTPStatus is k6's code for an HTTP error status: 1000 + status for
// 4xx and 5xx (1400-1599), 0 otherwise.
func CodeHTTPStatus(status int) int {
	if status >= 400 && status < 600 {
		return 1000 + status
	}
	return 0
}
