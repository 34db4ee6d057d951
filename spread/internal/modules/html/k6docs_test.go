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
