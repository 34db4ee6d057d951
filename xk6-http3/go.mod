module spread.dev/xk6-http3

go 1.26.7

require spread.dev/spread v0.0.0

require (
	github.com/dlclark/regexp2/v2 v2.5.2 // indirect
	github.com/go-sourcemap/sourcemap v2.1.3+incompatible // indirect
	github.com/google/pprof v0.0.0-20261016150608-1facf8f91b50 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace spread.dev/spread => ../spread

require (
	github.com/dop251/goja v0.0.0-20260917113740-793a2a65c13b
	github.com/quic-go/quic-go v0.65.0
	spread.dev/echo-server v0.0.0
)

replace spread.dev/echo-server => ../echo-server
