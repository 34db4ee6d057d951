package executor

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads from JSON as k6 does: a Go-style
// string ("30s", "1m30s", "1.5h", with "d" for days) or a number of
// milliseconds, and writes back as a string.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as Go does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := ParseDuration(str)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("duration: %s is neither a string nor a number", s)
	}
	v, err := msToDuration(f)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses a k6 duration: a Go duration string, optionally with
// days ("1d12h"), or a bare number meaning milliseconds.
func ParseDuration(s string) (Duration, error) {
	str := strings.TrimSpace(s)
	if str == "" {
		return 0, fmt.Errorf("duration: empty string")
	}
	if f, err := strconv.ParseFloat(str, 64); err == nil {
		return msToDuration(f)
	}
	// Days are not a Go unit; k6 accepts a leading "<int>d".
	var days time.Duration
	rest := str
	neg := false
	if strings.HasPrefix(rest, "-") {
		neg, rest = true, rest[1:]
	}
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, fmt.Errorf("duration: invalid %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
	}
	var v time.Duration
	if rest != "" {
		var err error
		v, err = time.ParseDuration(rest)
		if err != nil || strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") && days > 0 {
			return 0, fmt.Errorf("duration: invalid %q (want e.g. \"30s\", \"1m30s\", \"2h\", \"1d\")", s)
		}
	}
	if days > 0 && v > math.MaxInt64-days {
		return 0, fmt.Errorf("duration: %q is too long", s)
	}
	v += days
	if neg {
		v = -v
	}
	return Duration(v), nil
}

func msToDuration(ms float64) (Duration, error) {
	if math.IsNaN(ms) || math.IsInf(ms, 0) || math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, fmt.Errorf("duration: %v ms is out of range", ms)
	}
	return Duration(ms * float64(time.Millisecond)), nil
}
