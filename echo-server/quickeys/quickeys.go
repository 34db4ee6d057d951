// Package quickeys holds the secrets that replicas share so that one replica
// can answer for another's QUIC connections: the stateless-reset key, the
// address-token key and the TLS session-ticket keys.
//
// The file format is JSON with base64 (standard, padded) 32-byte values:
//
//	{
//	  "stateless_reset_key": "…",
//	  "token_key": "…",
//	  "session_ticket_keys": ["…", "…"]
//	}
//
// The first session-ticket key encrypts new tickets; all of them decrypt, so
// keys can be rotated by prepending a new one.
package quickeys

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"github.com/quic-go/quic-go"
)

// Key is a 32-byte secret, base64 in JSON.
type Key [32]byte

// MarshalText encodes the key as base64.
func (k Key) MarshalText() ([]byte, error) {
	return []byte(base64.StdEncoding.EncodeToString(k[:])), nil
}

// UnmarshalText decodes a base64 key of exactly 32 bytes.
func (k *Key) UnmarshalText(b []byte) error {
	raw, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("key is not base64: %w", err)
	}
	if len(raw) != len(k) {
		return fmt.Errorf("key has %d bytes, want %d", len(raw), len(k))
	}
	copy(k[:], raw)
	return nil
}

// Keys is the content of a --quic-keys file.
type Keys struct {
	StatelessResetKey Key   `json:"stateless_reset_key"`
	TokenKey          Key   `json:"token_key"`
	SessionTicketKeys []Key `json:"session_ticket_keys"`
}

// Generate returns fresh random keys with one session-ticket key.
func Generate() (*Keys, error) {
	k := &Keys{SessionTicketKeys: make([]Key, 1)}
	for _, b := range [][]byte{k.StatelessResetKey[:], k.TokenKey[:], k.SessionTicketKeys[0][:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("quickeys: random: %w", err)
		}
	}
	return k, nil
}

// Load reads and validates a keys file.
func Load(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quickeys: %w", err)
	}
	var k Keys
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("quickeys: %s: %w", path, err)
	}
	if len(k.SessionTicketKeys) == 0 {
		return nil, fmt.Errorf("quickeys: %s: session_ticket_keys is empty", path)
	}
	var zero Key
	if k.StatelessResetKey == zero || k.TokenKey == zero {
		return nil, fmt.Errorf("quickeys: %s: stateless_reset_key and token_key must be set", path)
	}
	return &k, nil
}

// Save writes the keys to path, readable by the owner only.
func (k *Keys) Save(path string) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("quickeys: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("quickeys: %w", err)
	}
	return nil
}

// ApplyTLS makes conf encrypt and decrypt session tickets with the shared
// keys, so a client resumes (and sends 0-RTT) on any replica.
func (k *Keys) ApplyTLS(conf *tls.Config) {
	keys := make([][32]byte, len(k.SessionTicketKeys))
	for i, key := range k.SessionTicketKeys {
		keys[i] = key
	}
	conf.SetSessionTicketKeys(keys)
}

// ApplyQUIC sets the stateless-reset and address-token keys on tr.
func (k *Keys) ApplyQUIC(tr *quic.Transport) {
	reset := quic.StatelessResetKey(k.StatelessResetKey)
	token := quic.TokenGeneratorKey(k.TokenKey)
	tr.StatelessResetKey = &reset
	tr.TokenGeneratorKey = &token
}
