package quickeys

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"
)

func TestSaveLoad(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatelessResetKey != k.StatelessResetKey || got.TokenKey != k.TokenKey || got.SessionTicketKeys[0] != k.SessionTicketKeys[0] {
		t.Fatal("keys changed on the round trip")
	}
	var tr quic.Transport
	got.ApplyQUIC(&tr)
	if tr.StatelessResetKey == nil || *tr.StatelessResetKey != quic.StatelessResetKey(k.StatelessResetKey) || tr.TokenGeneratorKey == nil {
		t.Fatal("ApplyQUIC did not set the keys")
	}
	got.ApplyTLS(&tls.Config{})
}

func TestLoadRejects(t *testing.T) {
	key := strings.Repeat("A", 43) + "="                   // 32 zero bytes
	good := "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=" // 32 bytes
	tests := []struct{ name, json, want string }{
		{"not json", `nope`, "invalid character"},
		{"unknown field", `{"stateless_reset_key":"` + good + `","token_key":"` + good + `","session_ticket_keys":["` + good + `"],"x":1}`, "unknown field"},
		{"short key", `{"stateless_reset_key":"AAAA","token_key":"` + good + `","session_ticket_keys":["` + good + `"]}`, "3 bytes"},
		{"bad base64", `{"stateless_reset_key":"!!","token_key":"` + good + `","session_ticket_keys":["` + good + `"]}`, "base64"},
		{"no ticket keys", `{"stateless_reset_key":"` + good + `","token_key":"` + good + `","session_ticket_keys":[]}`, "session_ticket_keys is empty"},
		{"zero keys", `{"stateless_reset_key":"` + key + `","token_key":"` + key + `","session_ticket_keys":["` + good + `"]}`, "must be set"},
		{"missing file", "", "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.json")
			if tc.json != "" {
				if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want error containing %q", err, tc.want)
			}
		})
	}
}
