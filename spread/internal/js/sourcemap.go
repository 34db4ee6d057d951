package js

import (
	"fmt"
	"strings"
)

// goja looks a position up in the source map with a 1-based column while
// source maps (and esbuild) count columns from 0, and it reports the mapped
// column as it finds it, 0-based. So a stack frame read "b.ts:4:10" for a
// token that starts in column 11, one less than esbuild's own 1-based
// syntax-error columns. shiftMapColumns moves every generated and original
// column of the mappings one to the right, which makes goja's lookup exact
// and its reported columns 1-based, as editors and k6 users count them.

const vlqChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// shiftMapColumns adds 1 to every generated and every original column of a
// source map "mappings" string. Generated columns restart at each line, so
// only a line's first segment carries an absolute one; original columns are
// deltas across the whole map, so only the first segment with a source
// carries an absolute one.
func shiftMapColumns(mappings string) (string, error) {
	lines := strings.Split(mappings, ";")
	origShifted := false
	for li, line := range lines {
		if line == "" {
			continue
		}
		segs := strings.Split(line, ",")
		for si, seg := range segs {
			if si > 0 && origShifted {
				break
			}
			vals, err := decodeVLQ(seg)
			if err != nil {
				return "", fmt.Errorf("line %d: %w", li+1, err)
			}
			if len(vals) == 0 {
				continue
			}
			if si == 0 {
				vals[0]++
			}
			if !origShifted && len(vals) >= 4 {
				vals[3]++
				origShifted = true
			}
			segs[si] = encodeVLQ(vals)
		}
		lines[li] = strings.Join(segs, ",")
	}
	return strings.Join(lines, ";"), nil
}

// decodeVLQ decodes one source-map segment of base64 VLQ values.
func decodeVLQ(seg string) ([]int, error) {
	var vals []int
	shift, acc := 0, 0
	for i := 0; i < len(seg); i++ {
		d := strings.IndexByte(vlqChars, seg[i])
		if d < 0 {
			return nil, fmt.Errorf("bad VLQ character %q", seg[i])
		}
		acc += (d & 31) << shift
		if d&32 != 0 {
			shift += 5
			if shift > 30 {
				return nil, fmt.Errorf("VLQ value too long in %q", seg)
			}
			continue
		}
		v := acc >> 1
		if acc&1 == 1 {
			v = -v
		}
		vals = append(vals, v)
		shift, acc = 0, 0
	}
	if shift != 0 {
		return nil, fmt.Errorf("truncated VLQ segment %q", seg)
	}
	return vals, nil
}

// encodeVLQ encodes values as one source-map segment.
func encodeVLQ(vals []int) string {
	var b strings.Builder
	for _, v := range vals {
		u := v << 1
		if v < 0 {
			u = (-v << 1) | 1
		}
		for {
			d := u & 31
			u >>= 5
			if u > 0 {
				d |= 32
			}
			b.WriteByte(vlqChars[d])
			if u == 0 {
				break
			}
		}
	}
	return b.String()
}
