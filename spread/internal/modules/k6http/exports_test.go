package k6http

import "testing"

// TestExportNames: every name k6/http lists has a value (a name added to
// exportNames but missing from export's switch would read undefined).
func TestExportNames(t *testing.T) {
	in := &instance{}
	seen := map[string]bool{}
	for _, n := range exportNames {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
		if in.export(n) == nil {
			t.Errorf("%s: no value", n)
		}
	}
	if len(exportNames) != 33 {
		t.Errorf("%d exports, want 33", len(exportNames))
	}
}
