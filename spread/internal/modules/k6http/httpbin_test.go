package k6http

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// These tests run k6/http against go-httpbin (github.com/mccutchen/go-httpbin),
// an independent implementation of httpbin.org, in process. The same
// features run end to end through `spread run` in features_run_test.go.

func newHTTPBin(t testing.TB) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(httpbin.New())
	t.Cleanup(s.Close)
	return s
}

// checkJS runs a script body that returns an object of named booleans and
// fails on each false one.
func checkJS(t *testing.T, vu *vuT, js string) {
	t.Helper()
	got := jsObj(t, vu, "(function(){"+js+"})()")
	if len(got) == 0 {
		t.Fatalf("script returned no checks")
	}
	for k, v := range got {
		if v != true {
			t.Errorf("%s: %v", k, v)
		}
	}
}

func TestHTTPBinCookies(t *testing.T) {
	bin := newHTTPBin(t)
	vu := newVU(t, nil)
	checkJS(t, vu, fmt.Sprintf(`
		var B = %q;
		// Set-Cookie on a redirect hop: the jar keeps it and sends it to the next hop.
		var r = http.get(B + '/cookies/set?flavour=oat&size=big');
		var jar = http.cookieJar();
		var c = jar.cookiesForURL(B + '/');
		var r0 = http.get(B + '/cookies/set?solo=1', {redirects: 0});
		var r2 = http.get(B + '/cookies', {cookies: {extra: 'x', flavour: {value: 'rye', replace: true}}});
		var r3 = http.get(B + '/cookies', {cookies: {flavour: 'spelt'}});
		jar.set(B, 'manual', 'm1');
		var r4 = http.get(B + '/cookies');
		jar.delete(B, 'manual');
		var r5 = http.get(B + '/cookies');
		var own = new http.CookieJar();
		own.set(B, 'mine', 'yes');
		var r6 = http.get(B + '/cookies', {jar: own});
		jar.clear(B + '/');
		var r7 = http.get(B + '/cookies');
		return {
			followed: r.status === 200 && r.json('cookies.flavour') === 'oat' && r.json('cookies.size') === 'big',
			jar: c.flavour[0] === 'oat' && c.size[0] === 'big',
			resCookies: r0.status === 302 && r0.cookies.solo[0].value === '1' && r0.cookies.solo[0].path !== undefined,
			replace: r2.json('cookies.flavour') === 'rye' && r2.json('cookies.extra') === 'x',
			noReplace: r3.request.headers['Cookie'].indexOf('flavour=oat') >= 0 && r3.request.headers['Cookie'].indexOf('flavour=spelt') >= 0,
			set: r4.json('cookies.manual') === 'm1',
			deleted: r5.json('cookies.manual') === undefined && r5.json('cookies.size') === 'big',
			ownJar: r6.json('cookies.mine') === 'yes' && r6.json('cookies.flavour') === undefined,
			cleared: JSON.stringify(r7.json('cookies')) === '{}',
		};`, bin.URL))
	// A new iteration starts with an empty jar, as in k6.
	vu.EndIteration()
	vu.StartIteration(1)
	checkJS(t, vu, fmt.Sprintf(`
		http.get(%[1]q + '/cookies/set?k=v');
		var before = http.get(%[1]q + '/cookies').json('cookies.k') === 'v';
		return {before: before};`, bin.URL))
	vu.EndIteration()
	vu.StartIteration(2)
	checkJS(t, vu, fmt.Sprintf(`
		return {fresh: JSON.stringify(http.get(%q + '/cookies').json('cookies')) === '{}'};`, bin.URL))
}

func TestHTTPBinAuth(t *testing.T) {
	bin := newHTTPBin(t)
	vu := newVU(t, nil)
	auth := strings.Replace(bin.URL, "http://", "http://user:pass@", 1)
	checkJS(t, vu, fmt.Sprintf(`
		var A = %q;
		var basic = http.get(A + '/basic-auth/user/pass');
		var digest = http.get(A + '/digest-auth/auth/user/pass', {auth: 'digest'});
		var sha = http.get(A + '/digest-auth/auth/user/pass/SHA-256', {auth: 'digest'});
		var bad = http.get(A.replace('pass@', 'nope@') + '/digest-auth/auth/user/pass', {auth: 'digest'});
		return {
			basic: basic.status === 200 && basic.json('authorized') === true,
			digest: digest.status === 200 && digest.json('authorized') === true,
			sha256: sha.status === 200,
			refused: bad.status === 401,
		};`, auth))
	// The challenge is its own request, expected (k6 counts it so).
	reqs := tagsOf(vu, "http_reqs")
	if len(reqs) != 7 {
		t.Fatalf("%d http_reqs, want 7 (basic, 2 per digest)", len(reqs))
	}
	if f := sum(vu, "http_req_failed"); f != 1 {
		t.Fatalf("http_req_failed sum %v, want 1 (only the refused credentials)", f)
	}
}

func TestHTTPBinBodies(t *testing.T) {
	bin := newHTTPBin(t)
	vu := newVU(t, nil)
	checkJS(t, vu, fmt.Sprintf(`
		var B = %q;
		var form = http.post(B + '/post', {topping: ['onion', 'bacon'], size: 'L'});
		var up = http.post(B + '/post', {
			note: 'hi',
			doc: http.file('hello file', 'hello.txt', 'text/plain'),
			bin: http.file(new Uint8Array([1, 2, 3]).buffer, 'b.bin'),
		});
		var ct = up.json('headers.Content-Type.0') || '';
		var raw = http.get(B + '/bytes/16', {responseType: 'binary'});
		var none = http.get(B + '/bytes/16', {responseType: 'none'});
		return {
			repeated: JSON.stringify(form.json('form.topping')) === '["onion","bacon"]' && form.json('form.size.0') === 'L',
			multipart: ct.indexOf('multipart/form-data; boundary=') === 0,
			file: up.json('files.doc.0') === 'hello file',
			field: up.json('form.note.0') === 'hi',
			binary: raw.body instanceof ArrayBuffer && raw.body.byteLength === 16,
			none: none.body === null,
			gjson: form.json('form.topping.#') === 2 && form.json('form.topping|@reverse|0') === 'bacon',
		};`, bin.URL))
}

func TestHTTPBinCompression(t *testing.T) {
	bin := newHTTPBin(t)
	vu := newVU(t, nil)
	checkJS(t, vu, fmt.Sprintf(`
		var B = %q;
		var gz = http.get(B + '/gzip', {headers: {'Accept-Encoding': 'gzip'}});
		var df = http.get(B + '/deflate', {headers: {'Accept-Encoding': 'deflate'}});
		return {
			gzip: gz.json('gzipped') === true,
			deflate: df.json('deflated') === true,
		};`, bin.URL))
}

func TestHTTPBinHTML(t *testing.T) {
	bin := newHTTPBin(t)
	vu := newVU(t, nil)
	checkJS(t, vu, fmt.Sprintf(`
		var B = %q;
		var page = http.get(B + '/forms/post');
		var doc = page.html();
		var sent = page.submitForm({fields: {custname: 'Ada', custemail: 'ada@example.com'}, submitSelector: 'button'});
		var links = http.get(B + '/links/3/0');
		var next = links.clickLink({selector: 'a:nth-of-type(2)'});
		return {
			html: doc.find('form').attr('method') === 'post' && page.html('input[name=custname]').size() === 1,
			submitted: sent.status === 200 && sent.json('form.custname.0') === 'Ada' && sent.json('form.custemail.0') === 'ada@example.com',
			clicked: next.status === 200 && next.url.indexOf('/links/3/') > 0,
		};`, bin.URL))
}
