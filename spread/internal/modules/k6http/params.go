package k6http

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// parseTimeout reads params.timeout as k6 does: a number of milliseconds or
// a duration string ("30s", "1m30s"; a bare number string is milliseconds).
func parseTimeout(v goja.Value) (time.Duration, error) {
	switch x := v.Export().(type) {
	case int64:
		return checkTimeout(time.Duration(x) * time.Millisecond)
	case float64:
		return checkTimeout(time.Duration(x * float64(time.Millisecond)))
	case string:
		s := strings.TrimSpace(x)
		if ms, err := strconv.ParseFloat(s, 64); err == nil {
			return checkTimeout(time.Duration(ms * float64(time.Millisecond)))
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("params.timeout: %q is not a duration (e.g. \"30s\") or milliseconds", s)
		}
		return checkTimeout(d)
	}
	return 0, fmt.Errorf("params.timeout: want milliseconds or a duration string, got %s", v)
}

func checkTimeout(d time.Duration) (time.Duration, error) {
	if d < 0 {
		return 0, fmt.Errorf("params.timeout: must not be negative, got %s", d)
	}
	return d, nil
}
