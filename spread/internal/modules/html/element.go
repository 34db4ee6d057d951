package html

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/dop251/goja"
	xhtml "golang.org/x/net/html"
)

// Element is k6's Element: one DOM node with DOM-like accessor methods
// (k6 makes them methods: el.nodeName(), el.textContent()).
type Element struct {
	rt *goja.Runtime
	n  *xhtml.Node
}

func newElement(rt *goja.Runtime, n *xhtml.Node) *Element { return &Element{rt: rt, n: n} }

// el returns a JS Element for n, or undefined when n is nil.
func (e *Element) el(n *xhtml.Node) goja.Value {
	if n == nil {
		return goja.Undefined()
	}
	return e.rt.ToValue(newElement(e.rt, n))
}

func (e *Element) els(ns []*xhtml.Node) []goja.Value {
	out := make([]goja.Value, 0, len(ns))
	for _, n := range ns {
		out = append(out, e.el(n))
	}
	return out
}

func (e *Element) sel() *goquery.Selection { return goquery.NewDocumentFromNode(e.n).Selection }

func (e *Element) Selection() *Selection { return newSelection(e.rt, e.sel()) }

// NodeName is the lower-case tag name, or #text, #comment, #document.
func (e *Element) NodeName() string {
	switch e.n.Type {
	case xhtml.TextNode:
		return "#text"
	case xhtml.CommentNode:
		return "#comment"
	case xhtml.DocumentNode:
		return "#document"
	}
	return strings.ToLower(e.n.Data)
}

func (e *Element) NodeType() goja.Value {
	if t, ok := nodeTypes[e.n.Type]; ok {
		return e.rt.ToValue(t)
	}
	return goja.Undefined()
}

// NodeValue is the text of text and comment nodes, else undefined.
func (e *Element) NodeValue() goja.Value {
	if e.n.Type == xhtml.TextNode || e.n.Type == xhtml.CommentNode {
		return e.rt.ToValue(e.n.Data)
	}
	return goja.Undefined()
}

func (e *Element) attr(name string) (string, bool) {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (e *Element) Id() string          { v, _ := e.attr("id"); return v }
func (e *Element) ClassName() string   { v, _ := e.attr("class"); return v }
func (e *Element) Lang() string        { v, _ := e.attr("lang"); return v }
func (e *Element) ClassList() []string { return strings.Fields(e.ClassName()) }
func (e *Element) TextContent() string { return e.sel().Text() }

// The URL parts of an <a> or <area> element's href (HTMLHyperlinkElementUtils,
// as k6's anchor elements have them); "" when there is no valid href.
func (e *Element) hrefURL() *url.URL {
	h, ok := e.attr("href")
	if !ok {
		return nil
	}
	u, err := url.Parse(h)
	if err != nil {
		return nil
	}
	return u
}

func (e *Element) urlPart(f func(*url.URL) string) string {
	if u := e.hrefURL(); u != nil {
		return f(u)
	}
	return ""
}

func (e *Element) Href() string { return e.urlPart(func(u *url.URL) string { return u.String() }) }
func (e *Element) Host() string { return e.urlPart(func(u *url.URL) string { return u.Host }) }
func (e *Element) Hostname() string {
	return e.urlPart(func(u *url.URL) string { return u.Hostname() })
}
func (e *Element) Port() string { return e.urlPart(func(u *url.URL) string { return u.Port() }) }
func (e *Element) Pathname() string {
	return e.urlPart(func(u *url.URL) string { return u.EscapedPath() })
}
func (e *Element) Protocol() string {
	return e.urlPart(func(u *url.URL) string {
		if u.Scheme == "" {
			return ""
		}
		return u.Scheme + ":"
	})
}
func (e *Element) Search() string {
	return e.urlPart(func(u *url.URL) string {
		if u.RawQuery == "" {
			return ""
		}
		return "?" + u.RawQuery
	})
}
func (e *Element) Hash() string {
	return e.urlPart(func(u *url.URL) string {
		if u.Fragment == "" {
			return ""
		}
		return "#" + u.EscapedFragment()
	})
}
func (e *Element) Username() string {
	return e.urlPart(func(u *url.URL) string { return u.User.Username() })
}
func (e *Element) Password() string {
	return e.urlPart(func(u *url.URL) string { p, _ := u.User.Password(); return p })
}
func (e *Element) Origin() string {
	return e.urlPart(func(u *url.URL) string {
		if u.Scheme == "" || u.Host == "" {
			return ""
		}
		return u.Scheme + "://" + u.Host
	})
}

// Text is textContent under the Selection's name: k6 hands the callbacks
// of map/filter/is/not a node its documentation reads with el.text().
func (e *Element) Text() string        { return e.TextContent() }
func (e *Element) HasAttributes() bool { return len(e.n.Attr) > 0 }
func (e *Element) HasChildNodes() bool { return e.n.FirstChild != nil }
func (e *Element) HasAttribute(name string) bool {
	_, ok := e.attr(name)
	return ok
}

func (e *Element) InnerHTML() string {
	var b bytes.Buffer
	for c := e.n.FirstChild; c != nil; c = c.NextSibling {
		_ = xhtml.Render(&b, c)
	}
	return b.String()
}

// ToString is the node's outer HTML.
func (e *Element) ToString() string {
	var b bytes.Buffer
	_ = xhtml.Render(&b, e.n)
	return b.String()
}

func (e *Element) GetAttribute(name string) goja.Value {
	if v, ok := e.attr(name); ok {
		return e.rt.ToValue(v)
	}
	return goja.Undefined()
}

// Attribute is one entry of Element.attributes().
type Attribute struct {
	Name         string `js:"name"`
	Value        string `js:"value"`
	LocalName    string `js:"localName"`
	NamespaceURI string `js:"namespaceURI"`
	Prefix       string `js:"prefix"`
}

func (e *Element) mkAttr(a xhtml.Attribute) *Attribute {
	local, prefix := a.Key, ""
	if i := strings.IndexByte(a.Key, ':'); i >= 0 {
		prefix, local = a.Key[:i], a.Key[i+1:]
	}
	return &Attribute{Name: a.Key, Value: a.Val, LocalName: local, NamespaceURI: a.Namespace, Prefix: prefix}
}

func (e *Element) GetAttributeNode(name string) goja.Value {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return e.rt.ToValue(e.mkAttr(a))
		}
	}
	return goja.Undefined()
}

// Attributes maps each attribute name to its Attribute.
func (e *Element) Attributes() map[string]*Attribute {
	out := make(map[string]*Attribute, len(e.n.Attr))
	for _, a := range e.n.Attr {
		out[a.Key] = e.mkAttr(a)
	}
	return out
}

func (e *Element) OwnerDocument() goja.Value {
	n := e.n
	for n.Parent != nil {
		n = n.Parent
	}
	if n.Type != xhtml.DocumentNode {
		return goja.Undefined()
	}
	return e.el(n)
}

func (e *Element) FirstChild() goja.Value      { return e.el(e.n.FirstChild) }
func (e *Element) LastChild() goja.Value       { return e.el(e.n.LastChild) }
func (e *Element) PreviousSibling() goja.Value { return e.el(e.n.PrevSibling) }
func (e *Element) NextSibling() goja.Value     { return e.el(e.n.NextSibling) }
func (e *Element) ParentNode() goja.Value      { return e.el(e.n.Parent) }

func (e *Element) ParentElement() goja.Value {
	if p := e.n.Parent; p != nil && p.Type == xhtml.ElementNode {
		return e.el(p)
	}
	return goja.Undefined()
}

func elementChildren(n *xhtml.Node) []*xhtml.Node {
	var out []*xhtml.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == xhtml.ElementNode {
			out = append(out, c)
		}
	}
	return out
}

func (e *Element) ChildNodes() []goja.Value {
	var ns []*xhtml.Node
	for c := e.n.FirstChild; c != nil; c = c.NextSibling {
		ns = append(ns, c)
	}
	return e.els(ns)
}
func (e *Element) Children() []goja.Value { return e.els(elementChildren(e.n)) }
func (e *Element) ChildElementCount() int { return len(elementChildren(e.n)) }

func (e *Element) FirstElementChild() goja.Value {
	if c := elementChildren(e.n); len(c) > 0 {
		return e.el(c[0])
	}
	return goja.Undefined()
}

func (e *Element) LastElementChild() goja.Value {
	if c := elementChildren(e.n); len(c) > 0 {
		return e.el(c[len(c)-1])
	}
	return goja.Undefined()
}

func (e *Element) PreviousElementSibling() goja.Value {
	for s := e.n.PrevSibling; s != nil; s = s.PrevSibling {
		if s.Type == xhtml.ElementNode {
			return e.el(s)
		}
	}
	return goja.Undefined()
}

func (e *Element) NextElementSibling() goja.Value {
	for s := e.n.NextSibling; s != nil; s = s.NextSibling {
		if s.Type == xhtml.ElementNode {
			return e.el(s)
		}
	}
	return goja.Undefined()
}

func other(v goja.Value) *Element {
	if x, ok := exportOrNil(v).(*Element); ok {
		return x
	}
	return nil
}

func (e *Element) IsSameNode(v goja.Value) bool { o := other(v); return o != nil && o.n == e.n }
func (e *Element) IsEqualNode(v goja.Value) bool {
	o := other(v)
	return o != nil && o.ToString() == e.ToString()
}

// Contains says whether v is this node or one of its descendants.
func (e *Element) Contains(v goja.Value) bool {
	o := other(v)
	if o == nil {
		return false
	}
	for n := o.n; n != nil; n = n.Parent {
		if n == e.n {
			return true
		}
	}
	return false
}

func (e *Element) Matches(selector string) bool { return matcher(e.rt, selector).Match(e.n) }

func (e *Element) GetElementsByClassName(name string) []goja.Value {
	return e.els(e.sel().Find("." + cssEscape(name)).Nodes)
}

func (e *Element) GetElementsByTagName(name string) []goja.Value {
	return e.els(e.sel().FindMatcher(matcher(e.rt, cssEscape(name))).Nodes)
}

func (e *Element) QuerySelector(selector string) goja.Value {
	s := e.sel().FindMatcher(matcher(e.rt, selector))
	if s.Length() == 0 {
		return goja.Undefined()
	}
	return e.el(s.Get(0))
}

func (e *Element) QuerySelectorAll(selector string) []goja.Value {
	return e.els(e.sel().FindMatcher(matcher(e.rt, selector)).Nodes)
}

// cssEscape escapes what a class or tag name could hold that CSS reads
// as syntax.
func cssEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
