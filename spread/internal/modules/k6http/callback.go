package k6http

import (
	"fmt"

	"github.com/dop251/goja"
)

// expectedStatuses is the value http.expectedStatuses() returns: the
// statuses a response callback counts as expected (http_req_failed 0).
type expectedStatuses struct {
	ranges []statusRange
}

type statusRange struct{ min, max int }

// defaultCallback is k6's default: 200-399 are expected.
var defaultCallback = &expectedStatuses{ranges: []statusRange{{200, 399}}}

// expected reports whether status is expected; nil means the default.
func (e *expectedStatuses) expected(status int) bool {
	if e == nil {
		e = defaultCallback
	}
	for _, r := range e.ranges {
		if status >= r.min && status <= r.max {
			return true
		}
	}
	return false
}

// parseExpectedStatuses reads http.expectedStatuses' arguments: integers
// and {min, max} objects.
func parseExpectedStatuses(rt *goja.Runtime, args []goja.Value) (*expectedStatuses, error) {
	e := &expectedStatuses{}
	for i, a := range args {
		if o, ok := a.(*goja.Object); ok {
			lo, hi := o.Get("min"), o.Get("max")
			if !isInt(lo) || !isInt(hi) {
				return nil, fmt.Errorf("expectedStatuses: argument %d: want {min: int, max: int}", i+1)
			}
			e.ranges = append(e.ranges, statusRange{int(lo.ToInteger()), int(hi.ToInteger())})
			continue
		}
		if !isInt(a) {
			return nil, fmt.Errorf("expectedStatuses: argument %d: want an integer status or {min, max}, got %s", i+1, a)
		}
		s := int(a.ToInteger())
		e.ranges = append(e.ranges, statusRange{s, s})
	}
	return e, nil
}

func isInt(v goja.Value) bool {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return false
	}
	switch x := v.Export().(type) {
	case int64:
		return true
	case float64:
		return x == float64(int64(x))
	}
	return false
}

// callbackFrom reads a responseCallback value: an expectedStatuses result,
// or null (no callback: nothing counted as failed, no http_req_failed).
func callbackFrom(v goja.Value) (cb *expectedStatuses, none bool, err error) {
	if goja.IsNull(v) {
		return nil, true, nil
	}
	if e, ok := v.Export().(*expectedStatuses); ok {
		return e, false, nil
	}
	return nil, false, fmt.Errorf("responseCallback: want the result of http.expectedStatuses() or null")
}
