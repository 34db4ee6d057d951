package wsclient

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/dop251/goja"
)

// ParseParams reads k6's WebSocket params object: headers, tags,
// compression ("deflate" or ""). A Sec-WebSocket-Protocol header becomes
// the subprotocol list (coder/websocket checks the server's pick against
// it). Unknown keys are ignored, as k6 does.
func ParseParams(rt *goja.Runtime, v goja.Value, protocols []string) (Params, error) {
	p := Params{Header: http.Header{}, Subprotocols: protocols}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return p, nil
	}
	obj, ok := v.(*goja.Object)
	if !ok {
		return p, fmt.Errorf("params must be an object, not %s", v.String())
	}
	if h := obj.Get("headers"); h != nil && !goja.IsUndefined(h) && !goja.IsNull(h) {
		ho, ok := h.(*goja.Object)
		if !ok {
			return p, fmt.Errorf("params.headers must be an object")
		}
		for _, k := range ho.Keys() {
			val := ho.Get(k).String()
			if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
				for _, sp := range strings.Split(val, ",") {
					if sp = strings.TrimSpace(sp); sp != "" {
						p.Subprotocols = append(p.Subprotocols, sp)
					}
				}
				continue
			}
			p.Header.Add(k, val)
		}
	}
	if t := obj.Get("tags"); t != nil && !goja.IsUndefined(t) && !goja.IsNull(t) {
		to, ok := t.(*goja.Object)
		if !ok {
			return p, fmt.Errorf("params.tags must be an object")
		}
		p.Tags = map[string]string{}
		for _, k := range to.Keys() {
			p.Tags[k] = to.Get(k).String()
		}
	}
	if c := obj.Get("compression"); c != nil && !goja.IsUndefined(c) && !goja.IsNull(c) {
		switch c.String() {
		case "deflate":
			p.Compression = true
		case "":
		default:
			return p, fmt.Errorf("params.compression %q: only \"deflate\" is supported", c.String())
		}
	}
	return p, nil
}
