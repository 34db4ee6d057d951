package html

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/dop251/goja"
	xhtml "golang.org/x/net/html"
)

// Selection is k6's Selection: a set of nodes and jQuery-like methods.
// Go method names map to JS by lowering the first letter (find, attr ...),
// the runtimes' field name mapper; Length is jQuery's .length.
type Selection struct {
	rt  *goja.Runtime
	sel *goquery.Selection

	Length int `js:"length"`
}

func newSelection(rt *goja.Runtime, s *goquery.Selection) *Selection {
	return &Selection{rt: rt, sel: s, Length: s.Length()}
}

func (s *Selection) wrap(g *goquery.Selection) *Selection { return newSelection(s.rt, g) }

// Find returns the descendants matching selector.
// Single is the first element matching selector, as a Selection (k6's
// shortcut for find(selector).first()).
func (s *Selection) Single(selector string) *Selection { return s.Find(selector).First() }

func (s *Selection) Find(selector string) *Selection {
	return s.wrap(s.sel.FindMatcher(matcher(s.rt, selector)))
}

func (s *Selection) filtered(v goja.Value, all func() *goquery.Selection, by func(goquery.Matcher) *goquery.Selection) *Selection {
	if sel, ok := optSelector(v); ok {
		return s.wrap(by(matcher(s.rt, sel)))
	}
	return s.wrap(all())
}

func (s *Selection) Children(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Children, s.sel.ChildrenMatcher)
}
func (s *Selection) Parent(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Parent, s.sel.ParentMatcher)
}
func (s *Selection) Parents(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Parents, s.sel.ParentsMatcher)
}
func (s *Selection) Next(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Next, s.sel.NextMatcher)
}
func (s *Selection) NextAll(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.NextAll, s.sel.NextAllMatcher)
}
func (s *Selection) Prev(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Prev, s.sel.PrevMatcher)
}
func (s *Selection) PrevAll(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.PrevAll, s.sel.PrevAllMatcher)
}
func (s *Selection) Siblings(selector goja.Value) *Selection {
	return s.filtered(selector, s.sel.Siblings, s.sel.SiblingsMatcher)
}
func (s *Selection) Contents() *Selection { return s.wrap(s.sel.Contents()) }
func (s *Selection) Closest(selector string) *Selection {
	return s.wrap(s.sel.ClosestMatcher(matcher(s.rt, selector)))
}

// until implements nextUntil / prevUntil / parentsUntil(until[, filter]):
// until is a selector or a Selection; filter an optional selector.
func (s *Selection) until(until, filter goja.Value,
	bySel func(*goquery.Selection) *goquery.Selection,
	byM func(goquery.Matcher) *goquery.Selection,
	filteredBySel func(goquery.Matcher, *goquery.Selection) *goquery.Selection,
	filteredByM func(goquery.Matcher, goquery.Matcher) *goquery.Selection,
	all func() *goquery.Selection,
) *Selection {
	fsel, hasFilter := optSelector(filter)
	var untilSel *goquery.Selection
	var untilM goquery.Matcher
	switch u := exportOrNil(until).(type) {
	case nil:
	case *Selection:
		untilSel = u.sel
	default:
		untilM = matcher(s.rt, until.String())
	}
	switch {
	case untilSel != nil && hasFilter:
		return s.wrap(filteredBySel(matcher(s.rt, fsel), untilSel))
	case untilSel != nil:
		return s.wrap(bySel(untilSel))
	case untilM != nil && hasFilter:
		return s.wrap(filteredByM(matcher(s.rt, fsel), untilM))
	case untilM != nil:
		return s.wrap(byM(untilM))
	case hasFilter:
		return s.wrap(all().FilterMatcher(matcher(s.rt, fsel)))
	}
	return s.wrap(all())
}

func (s *Selection) NextUntil(until, filter goja.Value) *Selection {
	g := s.sel
	return s.until(until, filter, g.NextUntilSelection, g.NextUntilMatcher, g.NextMatcherUntilSelection, g.NextFilteredUntilMatcher, g.NextAll)
}
func (s *Selection) PrevUntil(until, filter goja.Value) *Selection {
	g := s.sel
	return s.until(until, filter, g.PrevUntilSelection, g.PrevUntilMatcher, g.PrevMatcherUntilSelection, g.PrevFilteredUntilMatcher, g.PrevAll)
}
func (s *Selection) ParentsUntil(until, filter goja.Value) *Selection {
	g := s.sel
	return s.until(until, filter, g.ParentsUntilSelection, g.ParentsUntilMatcher, g.ParentsMatcherUntilSelection, g.ParentsFilteredUntilMatcher, g.Parents)
}

func exportOrNil(v goja.Value) any {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	return v.Export()
}

// predicate turns filter/is/not's argument (a selector, a function
// (index, element) or a Selection) into a test on one node.
func (s *Selection) predicate(arg goja.Value) func(int, *goquery.Selection) bool {
	if fn, ok := goja.AssertFunction(arg); ok {
		return func(i int, one *goquery.Selection) bool {
			el := s.rt.ToValue(newElement(s.rt, one.Get(0)))
			r, err := fn(el, s.rt.ToValue(i), el)
			if err != nil {
				panic(err)
			}
			return r.ToBoolean()
		}
	}
	if other, ok := exportOrNil(arg).(*Selection); ok {
		return func(_ int, one *goquery.Selection) bool { return other.sel.IsNodes(one.Get(0)) }
	}
	if arg == nil || goja.IsUndefined(arg) {
		panic(s.rt.NewTypeError("expected a selector, a function or a Selection"))
	}
	m := matcher(s.rt, arg.String())
	return func(_ int, one *goquery.Selection) bool { return m.Match(one.Get(0)) }
}

func (s *Selection) Filter(arg goja.Value) *Selection {
	return s.wrap(s.sel.FilterFunction(s.predicate(arg)))
}
func (s *Selection) Not(arg goja.Value) *Selection {
	return s.wrap(s.sel.NotFunction(s.predicate(arg)))
}
func (s *Selection) Is(arg goja.Value) bool {
	p := s.predicate(arg)
	found := false
	s.sel.EachWithBreak(func(i int, one *goquery.Selection) bool {
		found = p(i, one)
		return !found
	})
	return found
}
func (s *Selection) Has(selector string) *Selection {
	return s.wrap(s.sel.HasMatcher(matcher(s.rt, selector)))
}

func (s *Selection) First() *Selection { return s.wrap(s.sel.First()) }
func (s *Selection) Last() *Selection  { return s.wrap(s.sel.Last()) }

// Eq returns the element at index (negative counts from the end).
func (s *Selection) Eq(i int) *Selection { return s.wrap(s.sel.Eq(i)) }

// Slice is jQuery's slice(start[, end]) (negative indices from the end).
func (s *Selection) Slice(start int, end goja.Value) *Selection {
	n := s.sel.Length()
	e := n
	if end != nil && !goja.IsUndefined(end) {
		e = int(end.ToInteger())
	}
	clamp := func(x int) int {
		if x < 0 {
			x += n
		}
		return max(0, min(x, n))
	}
	start, e = clamp(start), clamp(e)
	if start >= e {
		return s.wrap(s.sel.Slice(0, 0))
	}
	return s.wrap(s.sel.Slice(start, e))
}

func (s *Selection) End() *Selection     { return s.wrap(s.sel.End()) }
func (s *Selection) AddBack() *Selection { return s.wrap(s.sel.AddBack()) }
func (s *Selection) Add(selector string) *Selection {
	return s.wrap(s.sel.AddMatcher(matcher(s.rt, selector)))
}

func (s *Selection) Size() int { return s.sel.Length() }

// Get returns the Element at index (negative from the end), or undefined;
// without an index, an array of every Element.
func (s *Selection) Get(index goja.Value) goja.Value {
	if index == nil || goja.IsUndefined(index) {
		out := make([]any, 0, s.sel.Length())
		for _, n := range s.sel.Nodes {
			out = append(out, newElement(s.rt, n))
		}
		return s.rt.ToValue(out)
	}
	i := int(index.ToInteger())
	if i < 0 {
		i += s.sel.Length()
	}
	if i < 0 || i >= s.sel.Length() {
		return goja.Undefined()
	}
	return s.rt.ToValue(newElement(s.rt, s.sel.Get(i)))
}

// ToArray returns one Selection per element.
func (s *Selection) ToArray() []*Selection {
	out := make([]*Selection, 0, s.sel.Length())
	s.sel.Each(func(_ int, one *goquery.Selection) { out = append(out, s.wrap(one)) })
	return out
}

// Each calls fn(index, element) for each element, `this` the element;
// returning false stops, as in jQuery.
func (s *Selection) Each(fn goja.Callable) *Selection {
	if fn == nil {
		panic(s.rt.NewTypeError("each: needs a function"))
	}
	s.sel.EachWithBreak(func(i int, one *goquery.Selection) bool {
		el := s.rt.ToValue(newElement(s.rt, one.Get(0)))
		r, err := fn(el, s.rt.ToValue(i), el)
		if err != nil {
			panic(err)
		}
		return !(r != nil && r.StrictEquals(s.rt.ToValue(false)))
	})
	return s
}

// Map returns the values fn(index, element) returned, skipping null and
// undefined and flattening arrays, as jQuery's map does.
func (s *Selection) Map(fn goja.Callable) []goja.Value {
	if fn == nil {
		panic(s.rt.NewTypeError("map: needs a function"))
	}
	out := []goja.Value{}
	s.sel.Each(func(i int, one *goquery.Selection) {
		el := s.rt.ToValue(newElement(s.rt, one.Get(0)))
		r, err := fn(el, s.rt.ToValue(i), el)
		if err != nil {
			panic(err)
		}
		if r == nil || goja.IsUndefined(r) || goja.IsNull(r) {
			return
		}
		if o, ok := r.(*goja.Object); ok && o.ClassName() == "Array" {
			var items []goja.Value
			if s.rt.ExportTo(o, &items) == nil {
				out = append(out, items...)
				return
			}
		}
		out = append(out, r)
	})
	return out
}

// Text is the combined text of every element and their descendants.
func (s *Selection) Text() string { return s.sel.Text() }

// Html is the inner HTML of the first element, undefined when empty.
func (s *Selection) Html() goja.Value {
	if s.sel.Length() == 0 {
		return goja.Undefined()
	}
	h, err := s.sel.Html()
	if err != nil {
		panic(s.rt.NewGoError(err))
	}
	return s.rt.ToValue(h)
}

// Attr is the attribute name of the first element, or def (undefined).
func (s *Selection) Attr(name string, def goja.Value) goja.Value {
	if v, ok := s.sel.Attr(name); ok {
		return s.rt.ToValue(v)
	}
	if def == nil {
		return goja.Undefined()
	}
	return def
}

// Val is the form value of the first element: input's value, textarea's
// text, select's selected option value(s), option's value or text.
func (s *Selection) Val() goja.Value {
	if s.sel.Length() == 0 {
		return goja.Undefined()
	}
	n := s.sel.Get(0)
	switch n.Data {
	case "input":
		v, ok := s.sel.First().Attr("value")
		if !ok {
			t, _ := s.sel.First().Attr("type")
			if t == "checkbox" || t == "radio" {
				return s.rt.ToValue("on")
			}
		}
		return s.rt.ToValue(v)
	case "textarea", "button":
		if n.Data == "button" {
			v, _ := s.sel.First().Attr("value")
			return s.rt.ToValue(v)
		}
		return s.rt.ToValue(s.sel.First().Text())
	case "option":
		return s.rt.ToValue(optionValue(s.sel.First()))
	case "select":
		sel := s.sel.First()
		opts := sel.Find("option[selected]")
		if _, multi := sel.Attr("multiple"); multi {
			vals := []string{}
			opts.Each(func(_ int, o *goquery.Selection) { vals = append(vals, optionValue(o)) })
			return s.rt.ToValue(vals)
		}
		if opts.Length() == 0 {
			opts = sel.Find("option")
		}
		if opts.Length() == 0 {
			return goja.Undefined()
		}
		return s.rt.ToValue(optionValue(opts.First()))
	}
	v, _ := s.sel.First().Attr("value")
	return s.rt.ToValue(v)
}

func optionValue(o *goquery.Selection) string {
	if v, ok := o.Attr("value"); ok {
		return v
	}
	return o.Text()
}

// Data reads the first element's data-* attributes as jQuery does: key in
// camelCase (data-foo-bar is "fooBar"), values parsed as JSON when they
// look like numbers, booleans, null, objects or arrays. Without a key, an
// object of all of them.
func (s *Selection) Data(key goja.Value) goja.Value {
	if s.sel.Length() == 0 {
		return goja.Undefined()
	}
	all := map[string]any{}
	for _, a := range s.sel.Get(0).Attr {
		if strings.HasPrefix(a.Key, "data-") {
			all[camel(a.Key[5:])] = dataValue(a.Val)
		}
	}
	if k, ok := optSelector(key); ok {
		if v, ok := all[camel(k)]; ok {
			return s.rt.ToValue(v)
		}
		return goja.Undefined()
	}
	return s.rt.ToValue(all)
}

func camel(k string) string {
	parts := strings.Split(k, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func dataValue(v string) any {
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == v {
		return f
	}
	if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			return x
		}
	}
	return v
}

// field is one successful form control, as a browser would submit it.
type field struct {
	Name  string `js:"name"`
	Value string `js:"value"`
}

// fields lists the successful controls of the selected forms and
// controls: named, not disabled, checkboxes/radios only when checked,
// no buttons or file inputs (jQuery's serializeArray rules).
func (s *Selection) fields() []field {
	out := []field{}
	controls := s.sel.Find("input,select,textarea").AddSelection(s.sel.Filter("input,select,textarea"))
	controls.Each(func(_ int, c *goquery.Selection) {
		name, ok := c.Attr("name")
		if !ok || name == "" {
			return
		}
		if _, dis := c.Attr("disabled"); dis {
			return
		}
		n := c.Get(0)
		switch n.Data {
		case "input":
			t := strings.ToLower(c.AttrOr("type", "text"))
			switch t {
			case "submit", "button", "image", "reset", "file":
				return
			case "checkbox", "radio":
				if _, checked := c.Attr("checked"); !checked {
					return
				}
				out = append(out, field{name, c.AttrOr("value", "on")})
				return
			}
			out = append(out, field{name, c.AttrOr("value", "")})
		case "textarea":
			out = append(out, field{name, c.Text()})
		case "select":
			opts := c.Find("option[selected]")
			if _, multi := c.Attr("multiple"); !multi && opts.Length() == 0 {
				opts = c.Find("option").First()
			}
			opts.Each(func(_ int, o *goquery.Selection) { out = append(out, field{name, optionValue(o)}) })
		}
	})
	return out
}

// Serialize is the URL-encoded form data (a=1&b=2).
func (s *Selection) Serialize() string {
	parts := []string{}
	for _, f := range s.fields() {
		parts = append(parts, url.QueryEscape(f.Name)+"="+url.QueryEscape(f.Value))
	}
	return strings.Join(parts, "&")
}

// SerializeArray is [{name, value}, ...].
func (s *Selection) SerializeArray() []field { return s.fields() }

// SerializeObject is {name: value}; a repeated name gives an array.
func (s *Selection) SerializeObject() map[string]any {
	out := map[string]any{}
	for _, f := range s.fields() {
		switch prev := out[f.Name].(type) {
		case nil:
			out[f.Name] = f.Value
		case string:
			out[f.Name] = []string{prev, f.Value}
		case []string:
			out[f.Name] = append(prev, f.Value)
		}
	}
	return out
}

// ToString renders the selection for console.log / string concatenation.
func (s *Selection) ToString() string { return "[object Selection]" }

// Node kinds for Element.nodeType, as the DOM numbers them.
var nodeTypes = map[xhtml.NodeType]int{
	xhtml.ElementNode: 1, xhtml.TextNode: 3, xhtml.CommentNode: 8,
	xhtml.DocumentNode: 9, xhtml.DoctypeNode: 10,
}
