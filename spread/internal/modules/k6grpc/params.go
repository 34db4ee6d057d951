package k6grpc

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/dop251/goja"
	"google.golang.org/grpc/metadata"
)

// Connection policies (this project's addition to k6's connect params).
const (
	connPerVU      = "per-vu"      // k6's behaviour: one connection, reused
	connPerRequest = "per-request" // a new connection (new TCP port) per RPC
)

// connectParams are connect()'s second argument: k6's ConnectParams plus
// the project's connection policy and client-side load balancing.
type connectParams struct {
	plaintext       bool
	reflect         bool
	reflectMetadata metadata.MD
	timeout         time.Duration
	maxReceiveSize  int
	maxSendSize     int
	authority       string
	tls             *tlsParams

	connection    string        // connPerVU or connPerRequest
	maxRequests   int           // rotate the connection after N RPCs (0 = never)
	maxAge        time.Duration // rotate the connection once this old (0 = never)
	loadBalancing string        // grpc-go balancer: "pick_first" (default) or "round_robin"
}

type tlsParams struct {
	cert, key string   // PEM contents
	cacerts   []string // PEM contents
	password  string
}

// known keys, so a typo is an error rather than a silently ignored option.
var connectKeys = map[string]bool{"plaintext": true, "reflect": true, "reflectMetadata": true, "timeout": true,
	"maxReceiveSize": true, "maxSendSize": true, "authority": true, "tls": true,
	"connection": true, "maxRequestsPerConnection": true, "maxConnectionAge": true, "loadBalancing": true}

func parseConnectParams(rt *goja.Runtime, v goja.Value) (*connectParams, error) {
	p := &connectParams{timeout: 60 * time.Second, connection: connPerVU}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return p, nil
	}
	o := v.ToObject(rt)
	for _, k := range o.Keys() {
		if !connectKeys[k] {
			return nil, fmt.Errorf("unknown connect parameter %q", k)
		}
		val := o.Get(k)
		if goja.IsUndefined(val) {
			continue // {loadBalancing: cond ? 'round_robin' : undefined}
		}
		var err error
		switch k {
		case "plaintext":
			p.plaintext = val.ToBoolean()
		case "reflect":
			p.reflect = val.ToBoolean()
		case "reflectMetadata":
			p.reflectMetadata, err = parseMetadata(rt, val)
		case "timeout":
			p.timeout, err = parseDuration(val)
		case "maxReceiveSize":
			p.maxReceiveSize, err = parseSize(k, val)
		case "maxSendSize":
			p.maxSendSize, err = parseSize(k, val)
		case "authority":
			p.authority = val.String()
		case "tls":
			p.tls, err = parseTLS(rt, val)
		case "connection":
			p.connection = val.String()
			if p.connection != connPerVU && p.connection != connPerRequest {
				err = fmt.Errorf("connection %q: want %q or %q", p.connection, connPerVU, connPerRequest)
			}
		case "maxRequestsPerConnection":
			p.maxRequests, err = parseSize(k, val)
		case "maxConnectionAge":
			p.maxAge, err = parseDuration(val)
		case "loadBalancing":
			p.loadBalancing = val.String()
			if p.loadBalancing != "pick_first" && p.loadBalancing != "round_robin" {
				err = fmt.Errorf("loadBalancing %q: want \"pick_first\" or \"round_robin\"", p.loadBalancing)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	if p.tls != nil && p.plaintext {
		return nil, fmt.Errorf("tls and plaintext: true exclude each other")
	}
	return p, nil
}

// callParams are invoke()'s and Stream's params (k6's Params).
type callParams struct {
	metadata metadata.MD
	tags     map[string]string
	timeout  time.Duration // 0: none (streams), else the RPC's deadline
	discard  bool
}

var callKeys = map[string]bool{"metadata": true, "tags": true, "timeout": true, "discardResponseMessage": true}

func parseCallParams(rt *goja.Runtime, v goja.Value, defTimeout time.Duration) (*callParams, error) {
	p := &callParams{timeout: defTimeout}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return p, nil
	}
	o := v.ToObject(rt)
	for _, k := range o.Keys() {
		if !callKeys[k] {
			return nil, fmt.Errorf("unknown parameter %q (metadata, tags, timeout, discardResponseMessage)", k)
		}
		val := o.Get(k)
		var err error
		switch k {
		case "metadata":
			p.metadata, err = parseMetadata(rt, val)
		case "tags":
			p.tags = map[string]string{}
			to := val.ToObject(rt)
			for _, tk := range to.Keys() {
				p.tags[tk] = to.Get(tk).String()
			}
		case "timeout":
			p.timeout, err = parseDuration(val)
		case "discardResponseMessage":
			p.discard = val.ToBoolean()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return p, nil
}

// parseMetadata turns {key: value} into gRPC metadata; values of keys
// ending in -bin are binary (an ArrayBuffer, or a base64 string), as k6.
func parseMetadata(rt *goja.Runtime, v goja.Value) (metadata.MD, error) {
	md := metadata.MD{}
	if goja.IsUndefined(v) || goja.IsNull(v) {
		return md, nil
	}
	o := v.ToObject(rt)
	for _, k := range o.Keys() {
		val := o.Get(k)
		key := strings.ToLower(k)
		if strings.HasSuffix(key, "-bin") {
			switch x := val.Export().(type) {
			case goja.ArrayBuffer:
				md.Append(key, string(x.Bytes()))
				continue
			case string:
				b, err := base64.StdEncoding.DecodeString(x)
				if err != nil {
					return nil, fmt.Errorf("metadata %s: binary value: %w", k, err)
				}
				md.Append(key, string(b))
				continue
			}
		}
		md.Append(key, val.String())
	}
	return md, nil
}

// parseDuration takes k6's forms: a string such as "10s" or a number of ms.
func parseDuration(v goja.Value) (time.Duration, error) {
	switch x := v.Export().(type) {
	case int64:
		return time.Duration(x) * time.Millisecond, nonNegative(time.Duration(x))
	case float64:
		return time.Duration(x * float64(time.Millisecond)), nonNegative(time.Duration(x))
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, err
		}
		return d, nonNegative(d)
	}
	return 0, fmt.Errorf("want a duration string (\"10s\") or milliseconds, got %v", v)
}

func nonNegative(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("must not be negative")
	}
	return nil
}

func parseSize(name string, v goja.Value) (int, error) {
	n := v.ToInteger()
	if n < 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("%s %d out of range", name, n)
	}
	return int(n), nil
}

func parseTLS(rt *goja.Runtime, v goja.Value) (*tlsParams, error) {
	if goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, nil
	}
	o := v.ToObject(rt)
	p := &tlsParams{}
	for _, k := range o.Keys() {
		val := o.Get(k)
		switch k {
		case "cert":
			p.cert = val.String()
		case "key":
			p.key = val.String()
		case "password":
			p.password = val.String()
		case "cacerts":
			if arr, ok := val.Export().([]any); ok {
				for _, a := range arr {
					p.cacerts = append(p.cacerts, fmt.Sprint(a))
				}
			} else {
				p.cacerts = []string{val.String()}
			}
		default:
			return nil, fmt.Errorf("unknown tls parameter %q (cert, key, cacerts, password)", k)
		}
	}
	if (p.cert == "") != (p.key == "") {
		return nil, fmt.Errorf("tls.cert and tls.key go together")
	}
	if p.password != "" {
		// Encrypted PEM keys (RFC 1423) are deprecated and insecure; Go's
		// x509 no longer encourages them. Say so rather than half-support.
		return nil, fmt.Errorf("tls.password: encrypted private keys are not supported; pass an unencrypted PEM key")
	}
	return p, nil
}

// tlsConfig builds the client TLS config: tls.cacerts (else the run's
// tlsCACerts / system roots), tls.cert+key as the client certificate,
// insecureSkipTLSVerify from the options.
func (p *tlsParams) config(roots *x509.CertPool, insecure bool, serverName string) (*tls.Config, error) {
	c := &tls.Config{RootCAs: roots, InsecureSkipVerify: insecure, ServerName: serverName, MinVersion: tls.VersionTLS12} //nolint:gosec // the script's choice
	if p == nil {
		return c, nil
	}
	if len(p.cacerts) > 0 {
		pool := x509.NewCertPool()
		for _, pem := range p.cacerts {
			if !pool.AppendCertsFromPEM([]byte(pem)) {
				return nil, fmt.Errorf("tls.cacerts: no PEM certificate in %.40q", pem)
			}
		}
		c.RootCAs = pool
	}
	if p.cert != "" {
		cert, err := tls.X509KeyPair([]byte(p.cert), []byte(p.key))
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
