package k6http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// clientCert is one tlsAuth entry: a certificate (and key) offered to the
// servers of domains.
type clientCert struct {
	domains []string
	cert    tls.Certificate
}

// decodeTLSAuth reads k6's tlsAuth: [{domains: [...], cert: PEM, key: PEM,
// password?}] (spread also takes file paths for cert and key), and
// tlsCipherSuites: k6's (Go's) cipher suite names.
func decodeTLSAuth(o map[string]json.RawMessage, c *config) error {
	if raw, ok := o["tlsAuth"]; ok && len(raw) > 0 && string(raw) != "null" {
		var entries []struct {
			Domains  []string `json:"domains"`
			Cert     string   `json:"cert"`
			Key      string   `json:"key"`
			Password string   `json:"password"`
		}
		if err := json.Unmarshal(raw, &entries); err != nil {
			return fmt.Errorf("option tlsAuth: want [{domains, cert, key}]: %w", err)
		}
		for i, e := range entries {
			certPEM, err := pemOrFile(e.Cert)
			if err != nil {
				return fmt.Errorf("option tlsAuth[%d].cert: %w", i, err)
			}
			keyPEM, err := pemOrFile(e.Key)
			if err != nil {
				return fmt.Errorf("option tlsAuth[%d].key: %w", i, err)
			}
			if e.Password != "" {
				// Encrypted PEM (RFC 1423) is what k6's password is for; Go
				// deprecates it as insecure but still decrypts it.
				blk, _ := pem.Decode(keyPEM)
				//nolint:staticcheck // k6 compatibility: password-protected keys
				if blk == nil || !x509.IsEncryptedPEMBlock(blk) {
					return fmt.Errorf("option tlsAuth[%d]: password given but the key is not an encrypted PEM block", i)
				}
				der, err := x509.DecryptPEMBlock(blk, []byte(e.Password)) //nolint:staticcheck // as above
				if err != nil {
					return fmt.Errorf("option tlsAuth[%d].password: %w", i, err)
				}
				keyPEM = pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: der})
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return fmt.Errorf("option tlsAuth[%d]: %w", i, err)
			}
			if len(e.Domains) == 0 {
				return fmt.Errorf("option tlsAuth[%d]: domains is required", i)
			}
			c.ClientCerts = append(c.ClientCerts, clientCert{domains: e.Domains, cert: cert})
		}
	}
	if raw, ok := o["tlsCipherSuites"]; ok && len(raw) > 0 && string(raw) != "null" {
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil {
			return fmt.Errorf("option tlsCipherSuites: want a list of names: %w", err)
		}
		known := map[string]uint16{}
		for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			known[s.Name] = s.ID
		}
		for _, n := range names {
			id, ok := known[n]
			if !ok {
				return fmt.Errorf("option tlsCipherSuites: unknown suite %q (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", n)
			}
			c.CipherSuites = append(c.CipherSuites, id)
		}
	}
	return nil
}

func pemOrFile(s string) ([]byte, error) {
	if strings.Contains(s, "-----BEGIN") {
		return []byte(s), nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	return os.ReadFile(s)
}

// tlsHostKey carries a request's host to the TLS handshake, which is how
// tlsAuth picks the certificate of that host: tls.CertificateRequestInfo
// does not say which server asked.
type tlsHostKey struct{}

// clientCertFor returns GetClientCertificate for the tlsAuth entries.
func clientCertFor(certs []clientCert) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		host, _ := cri.Context().Value(tlsHostKey{}).(string)
		for i := range certs {
			for _, d := range certs[i].domains {
				if domainMatches(host, d) {
					return &certs[i].cert, nil
				}
			}
		}
		return &tls.Certificate{}, nil // none: the server decides
	}
}

// domainMatches: exact, or a subdomain of "*.d" / ".d".
func domainMatches(host, d string) bool {
	host, d = strings.ToLower(host), strings.ToLower(d)
	if host == d {
		return true
	}
	suffix := strings.TrimPrefix(d, "*")
	return strings.HasPrefix(suffix, ".") && strings.HasSuffix(host, suffix)
}

// withTLSHost adds the request's host for tlsAuth (only when configured).
func (c *client) withTLSHost(ctx context.Context, host string) context.Context {
	if len(c.cfg.ClientCerts) == 0 {
		return ctx
	}
	return context.WithValue(ctx, tlsHostKey{}, host)
}
