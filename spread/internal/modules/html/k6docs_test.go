package html_test

import "testing"

// TestK6DocsCallbacks: the forms k6's documentation uses: el.text() in
// map/filter callbacks, doc.single(selector).
func TestK6DocsCallbacks(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`doc.find("li").map((i, el) => 'hola ' + el.text()).join()`, "hola one,hola two,hola three"},
		{`doc.find("li").filter((i, el) => el.text() === 'two').size()`, "1"},
		{`doc.find("li").is((i, el) => el.text() === 'three')`, "true"},
		{`doc.find("li").not((i, el) => el.text() === 'one').size()`, "2"},
		{`doc.single("li").text()`, "one"},
	} {
		got, err := eval(t, tc.src)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.src, got, err, tc.want)
		}
	}
}

// TestAnchorURLParts: an <a>'s href parts, as k6's anchor elements.
func TestAnchorURLParts(t *testing.T) {
	pre := `const a = parseHTML('<a href="http://user:pw@example.com:8080/p/q?x=1#frag">l</a>').find('a').get(0);`
	for _, tc := range []struct{ src, want string }{
		{`a.host()`, "example.com:8080"},
		{`a.hostname()`, "example.com"},
		{`a.port()`, "8080"},
		{`a.protocol()`, "http:"},
		{`a.pathname()`, "/p/q"},
		{`a.search()`, "?x=1"},
		{`a.hash()`, "#frag"},
		{`a.username() + '/' + a.password()`, "user/pw"},
		{`a.origin()`, "http://example.com:8080"},
	} {
		got, err := eval(t, pre+tc.src)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.src, got, err, tc.want)
		}
	}
}
