package k6http

import (
	"encoding/json"
	"strings"
	"testing"

	"spread.dev/spread/ext"
)

// Bad options are refused once, before the test, not at every request.
func TestCheckOptions(t *testing.T) {
	m, ok := ext.Lookup("k6/http")
	if !ok {
		t.Fatal("k6/http is not registered")
	}
	checker, ok := m.(ext.OptionsChecker)
	if !ok {
		t.Fatal("k6/http does not check its options before the test")
	}
	for _, tc := range []struct {
		opts string
		want string // "" = accepted
	}{
		{`{}`, ""},
		{`{"tlsCACerts": "/nonexistent/ca.pem"}`, "tlsCACerts"},
		{`{"batch": -1}`, "batch"},
		{`{"podFrom": "cookie:x"}`, "podFrom"},
	} {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.opts), &raw); err != nil {
			t.Fatal(err)
		}
		err := checker.CheckOptions(ext.Options(raw))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.opts, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error naming %s", tc.opts, err, tc.want)
		}
	}
}
