package k6http

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/dop251/goja"

	"spread.dev/spread/ext/httpkit"
	"spread.dev/spread/internal/modules/html"
)

// k6/http's own response properties beyond ext's common ones: cookies,
// html(), submitForm() and clickLink(). They are built on first read, so a
// script that never reads them pays nothing (see httpkit.ResponseExtras).

var responseExtraKeys = []string{"cookies", "html", "submitForm", "clickLink"}

// ExtraKeys lists k6/http's own response properties.
func (in *instance) ExtraKeys() []string { return responseExtraKeys }

// BuildExtra builds one of them for response r.
func (in *instance) BuildExtra(key string, r *httpkit.Result) goja.Value {
	rt := in.vu.Runtime()
	switch key {
	case "cookies":
		return responseCookies(rt, r.Header())
	case "html":
		return rt.ToValue(func(call goja.FunctionCall) goja.Value {
			doc, err := html.ParseHTML(rt, string(r.Body))
			if err != nil {
				in.throw(fmt.Errorf("res.html: %w", err))
			}
			if sel := call.Argument(0); !goja.IsUndefined(sel) && !goja.IsNull(sel) {
				find, ok := goja.AssertFunction(doc.ToObject(rt).Get("find"))
				if !ok {
					in.throw(fmt.Errorf("res.html: the document has no find()"))
				}
				v, err := find(doc, sel)
				if err != nil {
					panic(err)
				}
				return v
			}
			return doc
		})
	case "submitForm":
		return rt.ToValue(func(call goja.FunctionCall) goja.Value { return in.submitForm(r, call.Argument(0)) })
	case "clickLink":
		return rt.ToValue(func(call goja.FunctionCall) goja.Value { return in.clickLink(r, call.Argument(0)) })
	}
	return nil
}

// optString reads o[key] as a string, or def when unset.
func optString(o *goja.Object, key, def string) string {
	if o == nil {
		return def
	}
	v := o.Get(key)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return def
	}
	return v.String()
}

func optValue(o *goja.Object, key string) goja.Value {
	if o == nil {
		return goja.Undefined()
	}
	if v := o.Get(key); v != nil {
		return v
	}
	return goja.Undefined()
}

func (in *instance) document(fn string, r *httpkit.Result) *goquery.Document {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.Body))
	if err != nil {
		in.throw(fmt.Errorf("res.%s: the body is not HTML: %w", fn, err))
	}
	return doc
}

// resolve resolves ref against the response's URL (as a browser would).
func (in *instance) resolve(fn string, r *httpkit.Result, ref string) string {
	base, err := url.Parse(r.URL)
	if err != nil {
		in.throw(fmt.Errorf("res.%s: response URL %q: %w", fn, r.URL, err))
	}
	u, err := base.Parse(strings.TrimSpace(ref))
	if err != nil {
		in.throw(fmt.Errorf("res.%s: bad URL %q: %w", fn, ref, err))
	}
	return u.String()
}

// submitForm is res.submitForm({formSelector, fields, submitSelector,
// params}): it fills the form's fields from the page (inputs, checked
// boxes, selected options, text areas, and the submit button's name),
// overrides them with `fields`, and sends the form to its action with its
// method (GET puts the fields in the query, as a browser does).
func (in *instance) submitForm(r *httpkit.Result, arg goja.Value) goja.Value {
	rt := in.vu.Runtime()
	opts, _ := arg.(*goja.Object)
	formSel := optString(opts, "formSelector", "form")
	submitSel := optString(opts, "submitSelector", `[type="submit"]`)
	form := in.document("submitForm", r).Find(formSel).First()
	if form.Length() == 0 {
		in.throw(fmt.Errorf("res.submitForm: no form matches %q", formSel))
	}
	action := in.resolve("submitForm", r, form.AttrOr("action", ""))
	method := strings.ToUpper(strings.TrimSpace(form.AttrOr("method", "GET")))
	if method == "" {
		method = "GET"
	}
	var names []string
	values := map[string][]string{}
	add := func(name, value string) {
		if _, seen := values[name]; !seen {
			names = append(names, name)
		}
		values[name] = append(values[name], value)
	}
	form.Find("input[name], select[name], textarea[name]").Each(func(_ int, s *goquery.Selection) {
		name := s.AttrOr("name", "")
		if _, disabled := s.Attr("disabled"); disabled || name == "" {
			return
		}
		switch goquery.NodeName(s) {
		case "textarea":
			add(name, s.Text())
		case "select":
			selected := s.Find("option[selected]")
			if selected.Length() == 0 {
				if _, multiple := s.Attr("multiple"); multiple {
					return
				}
				selected = s.Find("option").First()
			}
			selected.Each(func(_ int, o *goquery.Selection) {
				add(name, o.AttrOr("value", o.Text()))
			})
		default:
			switch strings.ToLower(s.AttrOr("type", "text")) {
			case "submit", "button", "image", "reset", "file":
				return // the submit button is added below; no file upload from a page
			case "checkbox", "radio":
				if _, checked := s.Attr("checked"); !checked {
					return
				}
				add(name, s.AttrOr("value", "on"))
			default:
				add(name, s.AttrOr("value", ""))
			}
		}
	})
	if btn := form.Find(submitSel).First(); btn.Length() > 0 {
		if name := btn.AttrOr("name", ""); name != "" {
			add(name, btn.AttrOr("value", ""))
		}
	}
	if fields, ok := optValue(opts, "fields").(*goja.Object); ok {
		for _, k := range fields.Keys() {
			if _, seen := values[k]; !seen {
				names = append(names, k)
			}
			values[k] = formValues(fields.Get(k))
		}
	}
	params := optValue(opts, "params")
	if method == "GET" || method == "HEAD" {
		u, err := url.Parse(action)
		if err != nil {
			in.throw(fmt.Errorf("res.submitForm: action %q: %w", action, err))
		}
		q := url.Values{}
		for _, n := range names {
			q[n] = values[n]
		}
		u.RawQuery = q.Encode()
		return in.single(method, rt.ToValue(u.String()), goja.Undefined(), params)
	}
	body := rt.NewObject()
	for _, n := range names {
		vs := make([]any, len(values[n]))
		for i, v := range values[n] {
			vs[i] = v
		}
		_ = body.Set(n, rt.NewArray(vs...))
	}
	return in.single(method, rt.ToValue(action), body, params)
}

// clickLink is res.clickLink({selector, params}): a GET of the first
// matching link's href, resolved against the response's URL.
func (in *instance) clickLink(r *httpkit.Result, arg goja.Value) goja.Value {
	rt := in.vu.Runtime()
	opts, _ := arg.(*goja.Object)
	sel := optString(opts, "selector", "a[href]")
	link := in.document("clickLink", r).Find(sel).First()
	if link.Length() == 0 {
		in.throw(fmt.Errorf("res.clickLink: no element matches %q", sel))
	}
	href, ok := link.Attr("href")
	if !ok {
		in.throw(fmt.Errorf("res.clickLink: the element matching %q has no href", sel))
	}
	return in.single("GET", rt.ToValue(in.resolve("clickLink", r, href)), goja.Undefined(), optValue(opts, "params"))
}
