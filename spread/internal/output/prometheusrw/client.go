package prometheusrw

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// client posts remote-write requests, retrying what may succeed later.
type client struct {
	cfg  Config
	http *http.Client
	// backoff is the first retry delay; it doubles up to maxBackoff.
	backoff, maxBackoff time.Duration
}

func newClient(cfg Config) (*client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: cfg.InsecureTLS} //nolint:gosec // asked for by the user
	if cfg.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("K6_PROMETHEUS_RW_CLIENT_CERTIFICATE(_KEY): %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return &client{cfg: cfg, http: &http.Client{Transport: tr}, backoff: 200 * time.Millisecond, maxBackoff: 2 * time.Second}, nil
}

// permanentError is a rejection retrying cannot fix (4xx other than 429).
type permanentError struct{ error }

// send posts req until it is accepted, rejected for good, or ctx ends.
func (c *client) send(ctx context.Context, req *prompb.WriteRequest) error {
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	body := snappy.Encode(nil, raw)
	wait := c.backoff
	for attempt := 1; ; attempt++ {
		err := c.post(ctx, body)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		case <-t.C:
		}
		wait = min(2*wait, c.maxBackoff)
	}
}

func (c *client) post(ctx context.Context, body []byte) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("request: %w", err)}
	}
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	hr.Header.Set("User-Agent", "spread-prometheus-rw")
	for k, v := range c.cfg.Headers {
		hr.Header.Set(k, v)
	}
	if c.cfg.Username != "" || c.cfg.Password != "" {
		hr.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	if c.cfg.BearerToken != "" {
		hr.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("POST %s: %w", c.cfg.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s: %s: %s", c.cfg.URL, resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
		return permanentError{err}
	}
	return err
}
