package k6http

import (
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/httpkit"
)

// asyncRequest is http.asyncRequest(method, url, body, params): the request
// is parsed on the VU's goroutine, runs on its own goroutine, and the
// returned promise settles back on the VU's event loop (ext.VU's
// RegisterCallback), so a VU can have many requests in flight. Like k6,
// it resolves with the response (a failed request is a response with an
// error) and rejects only with the throw option or bad arguments.
func (in *instance) asyncRequest(call goja.FunctionCall) goja.Value {
	cli := in.ready("asyncRequest")
	rt := in.vu.Runtime()
	p, resolve, reject := rt.NewPromise()
	m := call.Argument(0)
	if goja.IsUndefined(m) || goja.IsNull(m) {
		_ = reject(rt.NewGoError(fmt.Errorf("http.asyncRequest: the method is required")))
		return rt.ToValue(p)
	}
	rq, err := in.parseRequest(strings.ToUpper(m.String()), call.Argument(1), call.Argument(2), call.Argument(3))
	if err != nil {
		_ = reject(rt.NewGoError(err))
		return rt.ToValue(p)
	}
	done := in.vu.RegisterCallback()
	go func() {
		res := in.run(cli, rq)
		done(func() error {
			if err := in.thrown(res); err != nil {
				return reject(rt.NewGoError(err))
			}
			return resolve(httpkit.NewResponseObjectExtras(rt, res, in))
		})
	}()
	return rt.ToValue(p)
}

// thrown is the error the throw option turns a failed request into, or nil.
func (in *instance) thrown(res *httpkit.Result) error {
	if in.cfg != nil && in.cfg.Throw && res.Error != "" {
		return fmt.Errorf("%s %s: %s (error_code %d)", res.Method, res.URL, res.Error, res.ErrorCode)
	}
	return nil
}
