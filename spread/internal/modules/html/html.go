// Package html is k6/html: parseHTML and k6's jQuery-like Selection and
// DOM-like Element APIs, on goquery (which wraps golang.org/x/net/html
// and cascadia's CSS selectors).
//
// Other modules (k6/http's res.html()) call ParseHTML directly.
package html

import (
	"fmt"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

func init() { ext.Register("k6/html", module{}) }

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return instance{rt: vu.Runtime()} }

type instance struct{ rt *goja.Runtime }

func (i instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"parseHTML": func(src goja.Value) goja.Value {
			if src == nil || goja.IsUndefined(src) || goja.IsNull(src) {
				panic(i.rt.NewTypeError("parseHTML: needs the HTML source as a string"))
			}
			v, err := ParseHTML(i.rt, src.String())
			if err != nil {
				panic(i.rt.NewGoError(err))
			}
			return v
		},
	}}
}

// ParseHTML parses body and returns the document as a k6 Selection object
// for rt (what `parseHTML(body)` and `res.html()` return).
func ParseHTML(rt *goja.Runtime, body string) (goja.Value, error) {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parseHTML: %w", err)
	}
	return rt.ToValue(newSelection(rt, doc.Selection)), nil
}

// matcher compiles a CSS selector, throwing a clear error for a bad one
// (goquery alone would silently match nothing).
func matcher(rt *goja.Runtime, sel string) goquery.Matcher {
	m, err := cascadia.Compile(sel)
	if err != nil {
		panic(rt.NewTypeError("invalid CSS selector %q: %v", sel, err))
	}
	return m
}

// optSelector returns the optional selector argument ("" when absent).
func optSelector(v goja.Value) (string, bool) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", false
	}
	return v.String(), true
}
