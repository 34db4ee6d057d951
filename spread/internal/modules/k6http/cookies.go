package k6http

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/httpkit"
)

// Cookies as k6 has them: every VU has a jar (a fresh one each iteration)
// that stores Set-Cookie responses, redirect hops included, and sends
// matching cookies with every request; params.cookies adds cookies to one
// request (replacing the jar's of the same name with {replace: true});
// params.jar picks another jar; http.cookieJar() / new http.CookieJar()
// expose jars to the script. The RFC 6265 matching is net/http/cookiejar's.

// cookieJar is a jar plus whether anything was ever stored in it, so a
// script that uses no cookies pays no jar lookup per request.
type cookieJar struct {
	jar  *cookiejar.Jar
	used atomic.Bool
}

func newCookieJar() *cookieJar {
	j, _ := cookiejar.New(nil) // never fails without options
	return &cookieJar{jar: j}
}

// store keeps a response's Set-Cookie headers for u.
func (j *cookieJar) store(u *url.URL, res *httpkit.Result) {
	if j == nil || !res.HasHeader("Set-Cookie") {
		return
	}
	cs := (&http.Response{Header: res.Header()}).Cookies()
	if len(cs) == 0 {
		return
	}
	j.used.Store(true)
	j.jar.SetCookies(u, cs)
}

// cookies returns the jar's cookies for u, or nil when the jar was never
// used.
func (j *cookieJar) cookies(u *url.URL) []*http.Cookie {
	if j == nil || !j.used.Load() {
		return nil
	}
	return j.jar.Cookies(u)
}

// remove deletes cookie name (every name when name is "") sent to u.
// net/http/cookiejar has no delete: a cookie is removed by storing an
// expired one under the same domain, path and name, so every domain the
// host is under and every path prefix of u are tried (a bounded few).
func (j *cookieJar) remove(u *url.URL, name string) {
	if !j.used.Load() {
		return
	}
	var names []string
	if name != "" {
		names = []string{name}
	} else {
		for _, c := range j.jar.Cookies(u) {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	host := u.Hostname()
	domains := []string{""} // "": the host itself (host-only cookies)
	if net.ParseIP(host) == nil {
		labels := strings.Split(host, ".")
		for i := 0; i < len(labels)-1; i++ {
			domains = append(domains, strings.Join(labels[i:], "."))
		}
	}
	paths := []string{"/"}
	p := u.EscapedPath()
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			paths = append(paths, p[:i])
		}
	}
	if len(p) > 1 {
		paths = append(paths, p)
	}
	var expired []*http.Cookie
	for _, n := range names {
		for _, d := range domains {
			for _, pa := range paths {
				expired = append(expired, &http.Cookie{Name: n, Value: "x", Domain: d, Path: pa, MaxAge: -1})
			}
		}
	}
	j.jar.SetCookies(u, expired)
}

// paramCookie is one entry of params.cookies.
type paramCookie struct {
	name, value string
	replace     bool
}

// parseParamCookies reads params.cookies: {name: "value"} or
// {name: {value: "v", replace: true}}.
func parseParamCookies(v goja.Value) ([]paramCookie, error) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, fmt.Errorf("params.cookies: want an object {name: value}, got %s", v)
	}
	var out []paramCookie
	for _, k := range o.Keys() {
		c := paramCookie{name: k}
		switch x := o.Get(k).(type) {
		case *goja.Object:
			val := x.Get("value")
			if val == nil || goja.IsUndefined(val) {
				return nil, fmt.Errorf("params.cookies.%s: want a string or {value, replace}", k)
			}
			c.value = val.String()
			if r := x.Get("replace"); r != nil {
				c.replace = r.ToBoolean()
			}
		default:
			c.value = x.String()
		}
		out = append(out, c)
	}
	return out, nil
}

// cookieHeader is the Cookie header of one hop to u: the jar's cookies,
// minus those replaced by params.cookies, then params.cookies, after any
// Cookie header the script set itself. "" when there is none.
func cookieHeader(jar *cookieJar, params []paramCookie, u *url.URL, h http.Header) string {
	fromJar := jar.cookies(u)
	if len(fromJar) == 0 && len(params) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(h.Get("Cookie"))
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString((&http.Cookie{Name: name, Value: value, Quoted: false}).String())
	}
	for _, c := range fromJar {
		replaced := false
		for _, p := range params {
			if p.replace && p.name == c.Name {
				replaced = true
				break
			}
		}
		if !replaced {
			add(c.Name, c.Value)
		}
	}
	for _, p := range params {
		add(p.name, p.value)
	}
	return b.String()
}

// jarSymbol marks a JS CookieJar object with its Go jar.
var jarSymbol = goja.NewSymbol("spread.cookieJar")

// jarObject is the JS CookieJar of j: cookiesForURL, set, clear, delete.
func (in *instance) jarObject(j *cookieJar) *goja.Object {
	rt := in.vu.Runtime()
	o := rt.NewObject()
	in.fillJarObject(o, j)
	return o
}

func (in *instance) fillJarObject(o *goja.Object, j *cookieJar) {
	rt := in.vu.Runtime()
	_ = o.DefineDataPropertySymbol(jarSymbol, rt.ToValue(j), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	parseURL := func(fn string, v goja.Value) *url.URL {
		u, err := url.Parse(v.String())
		if err != nil || u.Host == "" {
			in.throw(fmt.Errorf("CookieJar.%s: invalid URL %q", fn, v.String()))
		}
		return u
	}
	_ = o.Set("cookiesForURL", func(call goja.FunctionCall) goja.Value {
		u := parseURL("cookiesForURL", call.Argument(0))
		out := rt.NewObject()
		byName := map[string][]any{}
		var order []string
		for _, c := range j.jar.Cookies(u) {
			if _, seen := byName[c.Name]; !seen {
				order = append(order, c.Name)
			}
			byName[c.Name] = append(byName[c.Name], c.Value)
		}
		for _, n := range order {
			_ = out.Set(n, rt.NewArray(byName[n]...))
		}
		return out
	})
	_ = o.Set("set", func(call goja.FunctionCall) goja.Value {
		u := parseURL("set", call.Argument(0))
		c := &http.Cookie{Name: call.Argument(1).String(), Value: call.Argument(2).String()}
		if opts, ok := call.Argument(3).(*goja.Object); ok {
			if err := cookieOptions(c, opts); err != nil {
				in.throw(fmt.Errorf("CookieJar.set: %w", err))
			}
		}
		if c.Name == "" {
			in.throw(fmt.Errorf("CookieJar.set: the cookie name is required"))
		}
		j.used.Store(true)
		j.jar.SetCookies(u, []*http.Cookie{c})
		return goja.Undefined()
	})
	_ = o.Set("clear", func(call goja.FunctionCall) goja.Value {
		j.remove(parseURL("clear", call.Argument(0)), "")
		return goja.Undefined()
	})
	_ = o.Set("delete", func(call goja.FunctionCall) goja.Value {
		name := call.Argument(1).String()
		if name == "" {
			in.throw(fmt.Errorf("CookieJar.delete: the cookie name is required"))
		}
		j.remove(parseURL("delete", call.Argument(0)), name)
		return goja.Undefined()
	})
}

// cookieOptions reads CookieJar.set's options: domain, path, expires (an
// HTTP date or RFC 3339), max_age (seconds), secure, http_only.
func cookieOptions(c *http.Cookie, o *goja.Object) error {
	for _, k := range o.Keys() {
		v := o.Get(k)
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			continue
		}
		switch k {
		case "domain":
			c.Domain = v.String()
		case "path":
			c.Path = v.String()
		case "expires":
			s := v.String()
			var t time.Time
			var err error
			for _, layout := range []string{http.TimeFormat, time.RFC1123, time.RFC3339} {
				if t, err = time.Parse(layout, s); err == nil {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("expires %q: want an HTTP date (%s) or RFC 3339", s, http.TimeFormat)
			}
			c.Expires = t
		case "max_age":
			c.MaxAge = int(v.ToInteger()) // 0: unset; negative: delete
		case "secure":
			c.Secure = v.ToBoolean()
		case "http_only":
			c.HttpOnly = v.ToBoolean()
		}
	}
	return nil
}

// jarOf returns the Go jar of a JS CookieJar object.
func jarOf(v goja.Value) (*cookieJar, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	j, ok := o.GetSymbol(jarSymbol).Export().(*cookieJar)
	return j, ok
}

// vuJar is the VU's jar of this iteration (k6 starts each iteration with
// an empty one).
func (in *instance) vuJar() *cookieJar {
	if in.jar == nil {
		in.jar = newCookieJar()
	}
	return in.jar
}

// cookieJarFn is http.cookieJar(): the VU's active jar.
func (in *instance) cookieJarFn(goja.FunctionCall) goja.Value {
	return in.jarObject(in.vuJar())
}

// cookieJarCtor is `new http.CookieJar()`.
func (in *instance) cookieJarCtor(call goja.ConstructorCall) *goja.Object {
	in.fillJarObject(call.This, newCookieJar())
	return nil
}

// responseCookies is res.cookies: {name: [{name, value, domain, path,
// http_only, secure, max_age, expires}]} from the Set-Cookie headers.
func responseCookies(rt *goja.Runtime, h http.Header) goja.Value {
	out := rt.NewObject()
	if len(h["Set-Cookie"]) == 0 {
		return out
	}
	byName := map[string][]any{}
	var order []string
	for _, c := range (&http.Response{Header: h}).Cookies() {
		o := rt.NewObject()
		_ = o.Set("name", c.Name)
		_ = o.Set("value", c.Value)
		_ = o.Set("domain", c.Domain)
		_ = o.Set("path", c.Path)
		_ = o.Set("http_only", c.HttpOnly)
		_ = o.Set("secure", c.Secure)
		_ = o.Set("max_age", c.MaxAge)
		var exp int64
		if !c.Expires.IsZero() {
			exp = c.Expires.UnixMilli()
		}
		_ = o.Set("expires", exp)
		if _, seen := byName[c.Name]; !seen {
			order = append(order, c.Name)
		}
		byName[c.Name] = append(byName[c.Name], o)
	}
	for _, n := range order {
		_ = out.Set(n, rt.NewArray(byName[n]...))
	}
	return out
}
