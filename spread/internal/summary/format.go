package summary

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// trimFloat formats v with at most prec decimals, dropping trailing zeros.
func trimFloat(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// FormatDuration renders a time value given in milliseconds the way k6's
// summary does (0s, 12.25µs, 144.56ms, 1.35s, 1m2.35s); unit forces s, ms or us.
func FormatDuration(ms float64, unit string) string {
	switch unit {
	case "s":
		return trimFloat(ms/1000, 2) + "s"
	case "ms":
		return trimFloat(ms, 2) + "ms"
	case "us":
		return trimFloat(ms*1000, 2) + "µs"
	}
	a := math.Abs(ms)
	switch {
	case ms == 0:
		return "0s"
	case a < 0.001:
		return trimFloat(ms*1e6, 2) + "ns"
	case a < 1:
		return trimFloat(ms*1000, 2) + "µs"
	case a < 1000:
		return trimFloat(ms, 2) + "ms"
	case a < 60000:
		return trimFloat(ms/1000, 2) + "s"
	}
	return time.Duration(ms * float64(time.Millisecond)).Round(10 * time.Millisecond).String()
}

// FormatBytes renders a byte count in SI units as k6 does (81 kB, 1.3 MB).
func FormatBytes(b float64) string {
	if b < 10 {
		return trimFloat(b, 0) + " B"
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(b) / math.Log(1000))
	if e >= float64(len(units)) {
		e = float64(len(units) - 1)
	}
	v := math.Floor(b/math.Pow(1000, e)*10+0.5) / 10
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[int(e)])
	}
	return fmt.Sprintf("%.0f %s", v, units[int(e)])
}

// formatValue renders a value by what the metric contains.
func formatValue(v float64, contains, timeUnit string) string {
	switch contains {
	case "time":
		return FormatDuration(v, timeUnit)
	case "data":
		return FormatBytes(v)
	}
	return trimFloat(v, 6)
}

// formatCount renders an integer-valued count with thousands separators.
func formatCount(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return trimFloat(v, 6)
	}
	s := strconv.FormatInt(int64(math.Abs(v)), 10)
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatPercent renders a 0..1 ratio as k6 does: 50.00%.
func formatPercent(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 2, 64) + "%"
}

// formatOffset renders an offset from the test start, to 0.1 s.
func formatOffset(d time.Duration) string {
	if d < 0 {
		return "-" + formatOffset(-d)
	}
	d = d.Round(100 * time.Millisecond)
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	m := int(d / time.Minute)
	s := (d - time.Duration(m)*time.Minute).Seconds()
	if m < 60 {
		return fmt.Sprintf("%dm%04.1fs", m, s)
	}
	return fmt.Sprintf("%dh%02dm%04.1fs", m/60, m%60, s)
}
