package builtin

import (
	"encoding/json"
	"strings"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/summary"
)

// JSLibSummaryPrefix is the address of k6's jslib summary helper; scripts
// import textSummary from it in handleSummary, so the engine serves a
// local equivalent instead of fetching remote code.
const JSLibSummaryPrefix = "https://jslib.k6.io/k6-summary/"

// IsJSLibSummary says whether path is a version of the jslib summary helper.
func IsJSLibSummary(path string) bool { return strings.HasPrefix(path, JSLibSummaryPrefix) }

// SummaryModule serves textSummary(data, {indent, enableColors}).
type SummaryModule struct{}

// NewModuleInstance implements ext.Module.
func (SummaryModule) NewModuleInstance(vu ext.VU) ext.Instance { return summaryInstance{vu} }

type summaryInstance struct{ vu ext.VU }

func (s summaryInstance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{"textSummary": s.textSummary}}
}

// textSummary renders handleSummary's data as the default end-of-test text.
func (s summaryInstance) textSummary(data goja.Value, opts goja.Value) string {
	rt := s.vu.Runtime()
	stringify, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("stringify"))
	js, err := stringify(goja.Undefined(), data)
	if err != nil {
		panic(err)
	}
	var d summary.Data
	if err := json.Unmarshal([]byte(js.String()), &d); err != nil {
		panic(rt.NewTypeError("textSummary: data is not handleSummary's data: %v", err))
	}
	to := summary.TextOptions{Indent: " ", NoColor: true}
	if opts != nil && !goja.IsUndefined(opts) && !goja.IsNull(opts) {
		o := opts.ToObject(rt)
		if v := o.Get("indent"); v != nil && !goja.IsUndefined(v) {
			to.Indent = v.String()
		}
		if v := o.Get("enableColors"); v != nil && !goja.IsUndefined(v) {
			to.NoColor = !v.ToBoolean()
		}
	}
	return summary.Text(&d, to)
}
