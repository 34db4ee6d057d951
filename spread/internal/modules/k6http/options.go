package k6http

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
)

// EnvCACerts names the environment variable read when the tlsCACerts option
// is not set: a PEM file (or several, separated by the OS path list
// separator) whose CAs are trusted in addition to the system pool.
const EnvCACerts = "SPREAD_CA_CERT"

// Defaults as k6 documents them.
const (
	defaultBatch        = 10
	defaultBatchPerHost = 6
	defaultRedirects    = 10
	defaultTimeout      = 60 * time.Second
	defaultUserAgent    = "spread/0.1 (k6-compatible)"
	dialTimeout         = 30 * time.Second
)

// config is the part of the run's options that k6/http reads.
type config struct {
	Batch                 int
	BatchPerHost          int
	MaxRedirects          int
	DiscardResponseBodies bool
	NoConnectionReuse     bool
	NoVUConnectionReuse   bool
	InsecureSkipTLSVerify bool
	Throw                 bool
	UserAgent             *string // nil: default; "" sends none
	TLSMin, TLSMax        uint16
	RootCAs               *x509.CertPool // nil: system pool
	Hosts                 map[string]string
	PodFrom               []httpkit.PodSource
	DNS                   dnsConfig
	LocalIPs              []netip.Addr
	CipherSuites          []uint16     // nil: Go's defaults
	ClientCerts           []clientCert // tlsAuth
}

// tlsVersions are k6's spellings of TLS versions.
var tlsVersions = map[string]uint16{
	"ssl3.0": tls.VersionSSL30, //nolint:staticcheck // accepted for k6 compatibility; Go refuses it at handshake
	"tls1.0": tls.VersionTLS10,
	"tls1.1": tls.VersionTLS11,
	"tls1.2": tls.VersionTLS12,
	"tls1.3": tls.VersionTLS13,
}

// tlsVersionName is the tls_version tag value of a negotiated version.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "tls1.0"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	}
	return ""
}

// loadConfig decodes the options k6/http honours. getenv is os.Getenv
// outside tests.
func loadConfig(o ext.Options, getenv func(string) string) (*config, error) {
	c := &config{Batch: defaultBatch, BatchPerHost: defaultBatchPerHost, MaxRedirects: defaultRedirects}
	type intOpt struct {
		key string
		dst *int
	}
	for _, io := range []intOpt{{"batch", &c.Batch}, {"batchPerHost", &c.BatchPerHost}, {"maxRedirects", &c.MaxRedirects}} {
		var v float64
		if set, err := o.Decode(io.key, &v); err != nil {
			return nil, err
		} else if set {
			if v < 0 {
				return nil, fmt.Errorf("option %s: must be >= 0, got %v", io.key, v)
			}
			*io.dst = int(v)
		}
	}
	type boolOpt struct {
		key string
		dst *bool
	}
	for _, bo := range []boolOpt{
		{"discardResponseBodies", &c.DiscardResponseBodies},
		{"noConnectionReuse", &c.NoConnectionReuse},
		{"noVUConnectionReuse", &c.NoVUConnectionReuse},
		{"insecureSkipTLSVerify", &c.InsecureSkipTLSVerify},
		{"throw", &c.Throw},
	} {
		if _, err := o.Decode(bo.key, bo.dst); err != nil {
			return nil, err
		}
	}
	var ua string
	if set, err := o.Decode("userAgent", &ua); err != nil {
		return nil, err
	} else if set {
		c.UserAgent = &ua
	}
	if err := decodeTLSVersion(o, c); err != nil {
		return nil, err
	}
	if err := decodeCACerts(o, c, getenv); err != nil {
		return nil, err
	}
	if _, err := o.Decode("hosts", &c.Hosts); err != nil {
		return nil, err
	}
	var err error
	if c.DNS, err = parseDNS(o["dns"]); err != nil {
		return nil, err
	}
	if c.LocalIPs, err = parseLocalIPs(o["localIPs"]); err != nil {
		return nil, err
	}
	if err := decodeTLSAuth(o, c); err != nil {
		return nil, err
	}
	var podFrom string
	if _, err := o.Decode("podFrom", &podFrom); err != nil {
		return nil, err
	}
	src, err := httpkit.ParsePodFrom(podFrom)
	if err != nil {
		return nil, fmt.Errorf("option podFrom: %w", err)
	}
	c.PodFrom = src
	return c, nil
}

// decodeTLSVersion reads tlsVersion: "tls1.2" (exactly that version) or
// {min: "tls1.2", max: "tls1.3"}, as k6 accepts.
func decodeTLSVersion(o ext.Options, c *config) error {
	raw, ok := o["tlsVersion"]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	parse := func(s string) (uint16, error) {
		v, ok := tlsVersions[strings.ToLower(strings.TrimSpace(s))]
		if !ok {
			return 0, fmt.Errorf("option tlsVersion: unknown version %q (want tls1.0, tls1.1, tls1.2 or tls1.3)", s)
		}
		return v, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		v, err := parse(one)
		if err != nil {
			return err
		}
		c.TLSMin, c.TLSMax = v, v
		return nil
	}
	var rng struct{ Min, Max string }
	if err := json.Unmarshal(raw, &rng); err != nil {
		return fmt.Errorf("option tlsVersion: want a string or {min, max}: %w", err)
	}
	var err error
	if rng.Min != "" {
		if c.TLSMin, err = parse(rng.Min); err != nil {
			return err
		}
	}
	if rng.Max != "" {
		if c.TLSMax, err = parse(rng.Max); err != nil {
			return err
		}
	}
	if c.TLSMin != 0 && c.TLSMax != 0 && c.TLSMin > c.TLSMax {
		return fmt.Errorf("option tlsVersion: min %s is above max %s", rng.Min, rng.Max)
	}
	return nil
}

// decodeCACerts reads tlsCACerts (a PEM path, PEM text, or a list of
// either) or, when unset, $SPREAD_CA_CERT, so a lab's own CA can be trusted
// without turning verification off.
func decodeCACerts(o ext.Options, c *config, getenv func(string) string) error {
	var items []string
	raw, ok := o["tlsCACerts"]
	if ok && len(raw) > 0 && string(raw) != "null" {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			items = []string{one}
		} else if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("option tlsCACerts: want a PEM path or a list of them: %w", err)
		}
	} else if env := getenv(EnvCACerts); env != "" {
		items = strings.Split(env, string(os.PathListSeparator))
	}
	if len(items) == 0 {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		pem := []byte(it)
		if !strings.Contains(it, "-----BEGIN") {
			if pem, err = os.ReadFile(it); err != nil {
				return fmt.Errorf("option tlsCACerts: %w", err)
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("option tlsCACerts: no PEM certificate in %q", shorten(it))
		}
	}
	c.RootCAs = pool
	return nil
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// resolveHost applies the hosts option to a dial address ("host:port"):
// a key "name:port" wins over "name"; a mapping to "ip" keeps the port, a
// mapping to "ip:port" replaces both (the result may also be a name,
// resolved by the dns resolver).
func (c *config) resolveHost(addr string) string {
	if len(c.Hosts) == 0 {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	to, ok := c.Hosts[addr] // "name:port" keys override one port only
	if !ok {
		if to, ok = c.Hosts[host]; !ok {
			return addr
		}
	}
	if _, _, err := net.SplitHostPort(to); err == nil {
		return to
	}
	return net.JoinHostPort(to, port)
}
