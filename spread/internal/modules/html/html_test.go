package html_test

import (
	"strings"
	"testing"

	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/internal/modules/html"
)

const page = `<!DOCTYPE html>
<html lang="en"><head><title>Test page</title></head>
<body>
<dl>
  <dt id="term-1">term 1</dt>
  <dd>definition 1-a</dd>
  <dd>definition 1-b</dd>
  <dt id="term-2" class="t two">term 2</dt>
  <dd>definition 2-a</dd>
</dl>
<ul id="list"><li class="a">one</li><li class="b" data-id="7" data-user-name="ann" data-opts='{"x":1}' data-on="true">two</li><li>three</li></ul>
<a href="/next" rel="next">Next</a>
<form id="f">
  <input type="text" name="user" value="bob">
  <input type="password" name="pw" value="s3cr=t&">
  <input type="checkbox" name="keep" checked>
  <input type="checkbox" name="skip" value="x">
  <input type="radio" name="r" value="1"><input type="radio" name="r" value="2" checked>
  <input type="submit" name="go" value="Go">
  <input type="text" name="off" value="no" disabled>
  <textarea name="msg">hello
world</textarea>
  <select name="color"><option value="r">Red</option><option selected>Green</option></select>
  <select name="many" multiple><option value="1" selected>1</option><option value="2" selected>2</option><option>3</option></select>
  <select name="first"><option value="a">A</option><option value="b">B</option></select>
</form>
</body></html>`

func eval(t *testing.T, src string) (string, error) {
	t.Helper()
	vu := exttest.New(nil)
	_ = vu.RT.Set("page", page)
	v, err := vu.RT.RunString("const { parseHTML } = require('k6/html'); const doc = parseHTML(page);\n" + src)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// Behaviour from k6's Selection and Element docs (jQuery's semantics).
func TestSelection(t *testing.T) {
	cases := []struct{ src, want string }{
		{`doc.find("title").text()`, "Test page"},
		{`doc.find("dt").size()`, "2"},
		{`doc.find("dt").length`, "2"},
		{`doc.find("dt").first().attr("id")`, "term-1"},
		{`doc.find("dt").last().attr("id")`, "term-2"},
		{`doc.find("dt").attr("nope")`, "undefined"},
		{`doc.find("dt").attr("nope", "dflt")`, "dflt"},
		{`doc.find("dd").eq(1).text()`, "definition 1-b"},
		{`doc.find("dd").eq(-1).text()`, "definition 2-a"},
		{`doc.find("dl").children().size()`, "5"},
		{`doc.find("dl").children("dt").size()`, "2"},
		{`doc.find("dt").first().next().text()`, "definition 1-a"},
		{`doc.find("dt").first().nextAll("dd").size()`, "3"},
		{`doc.find("dt").first().nextUntil("dt").size()`, "2"},
		{`doc.find("dt").last().prev().text()`, "definition 1-b"},
		{`doc.find("dt").last().prevAll().size()`, "3"},
		{`doc.find("dt").last().prevUntil("#term-1").size()`, "2"},
		{`doc.find("li.a").parent().attr("id")`, "list"},
		{`doc.find("li.a").parents().size()`, "3"},            // ul, body, html
		{`doc.find("li.a").parentsUntil("body").size()`, "1"}, // ul
		{`doc.find("li.a").closest("ul").attr("id")`, "list"},
		{`doc.find("li").filter(".b").text()`, "two"},
		{`doc.find("li").filter((i) => i == 2).text()`, "three"},
		{`doc.find("li").filter(doc.find(".a")).text()`, "one"},
		{`doc.find("li").not(".a").size()`, "2"},
		{`doc.find("li").is(".b")`, "true"},
		{`doc.find("li").is("dt")`, "false"},
		{`doc.find("ul").has("li.b").size()`, "1"},
		{`doc.find("li").slice(1).size()`, "2"},
		{`doc.find("li").slice(0, -1).last().text()`, "two"},
		{`doc.find("li").map((i, el) => el.textContent() + i).join()`, "one0,two1,three2"},
		{`let n = []; doc.find("li").each(function (i, el) { n.push(el.nodeName() + this.className()); }); n.join()`, "lia,lib,li"},
		{`let c = 0; doc.find("li").each(() => { c++; return false; }); c`, "1"},
		{`doc.find("ul").html()`, `<li class="a">one</li><li class="b" data-id="7" data-user-name="ann" data-opts="{&#34;x&#34;:1}" data-on="true">two</li><li>three</li>`},
		{`doc.find("nothing").html()`, "undefined"},
		{`doc.find("li.b").data("id") + 1`, "8"},
		{`doc.find("li.b").data("userName")`, "ann"},
		{`doc.find("li.b").data("opts").x`, "1"},
		{`doc.find("li.b").data("on") === true`, "true"},
		{`Object.keys(doc.find("li.b").data()).sort().join()`, "id,on,opts,userName"},
		{`doc.find("li").toArray().map((s) => s.text()).join("|")`, "one|two|three"},
		{`doc.find("li").get(1).textContent()`, "two"},
		{`doc.find("li").get(9)`, "undefined"},
		{`doc.find("li").get().length`, "3"},
		{`doc.find("li").find("nothing").size()`, "0"},
		{`doc.find("input[name=user]").val()`, "bob"},
		{`doc.find("input[name=keep]").val()`, "on"},
		{`doc.find("textarea").val()`, "hello\nworld"},
		{`doc.find("select[name=color]").val()`, "Green"},
		{`doc.find("select[name=many]").val().join()`, "1,2"},
		{`doc.find("select[name=first]").val()`, "a"},
		{`doc.find("form").serialize()`, "user=bob&pw=s3cr%3Dt%26&keep=on&r=2&msg=hello%0Aworld&color=Green&many=1&many=2&first=a"},
		{`JSON.stringify(doc.find("form").serializeArray().slice(0, 2))`, `[{"name":"user","value":"bob"},{"name":"pw","value":"s3cr=t&"}]`},
		{`const o = doc.find("form").serializeObject(); Object.keys(o).sort().map((k) => k + "=" + o[k]).join("&")`, "color=Green&first=a&keep=on&many=1,2&msg=hello\nworld&pw=s3cr=t&&r=2&user=bob"},
		{`doc.find("a").attr("href")`, "/next"},
		{`doc.find("li").first().end().size()`, "3"},
		{`doc.find("li.a").add("dt").size()`, "3"},
	}
	for _, c := range cases {
		got, err := eval(t, c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.src, got, c.want)
		}
	}
}

func TestElement(t *testing.T) {
	cases := []struct{ src, want string }{
		{`const e = doc.find("#term-2").get(0); e.nodeName()`, "dt"},
		{`doc.find("#term-2").get(0).nodeType()`, "1"},
		{`doc.find("#term-2").get(0).id()`, "term-2"},
		{`doc.find("#term-2").get(0).className()`, "t two"},
		{`doc.find("#term-2").get(0).classList().join("|")`, "t|two"},
		{`doc.find("#term-2").get(0).hasAttribute("class")`, "true"},
		{`doc.find("#term-2").get(0).getAttribute("class")`, "t two"},
		{`doc.find("#term-2").get(0).getAttributeNode("class").value`, "t two"},
		{`doc.find("#term-2").get(0).attributes()["id"].value`, "term-2"},
		{`doc.find("#term-2").get(0).toString()`, `<dt id="term-2" class="t two">term 2</dt>`},
		{`doc.find("#term-2").get(0).innerHTML()`, "term 2"},
		{`doc.find("#term-2").get(0).firstChild().nodeName()`, "#text"},
		{`doc.find("#term-2").get(0).firstChild().nodeValue()`, "term 2"},
		{`doc.find("#term-2").get(0).nextElementSibling().textContent()`, "definition 2-a"},
		{`doc.find("#term-2").get(0).previousElementSibling().textContent()`, "definition 1-b"},
		{`doc.find("#term-2").get(0).parentElement().nodeName()`, "dl"},
		{`doc.find("ul").get(0).childElementCount()`, "3"},
		{`doc.find("ul").get(0).children().length`, "3"},
		{`doc.find("ul").get(0).lastElementChild().textContent()`, "three"},
		{`doc.find("ul").get(0).querySelector(".b").textContent()`, "two"},
		{`doc.find("ul").get(0).querySelectorAll("li").length`, "3"},
		{`doc.find("body").get(0).getElementsByTagName("dd").length`, "3"},
		{`doc.find("body").get(0).getElementsByClassName("two").length`, "1"},
		{`doc.find("body").get(0).contains(doc.find(".b").get(0))`, "true"},
		{`doc.find(".b").get(0).contains(doc.find("body").get(0))`, "false"},
		{`doc.find(".b").get(0).matches("li[data-id]")`, "true"},
		{`doc.find(".b").get(0).isSameNode(doc.find("li").get(1))`, "true"},
		{`doc.find(".b").get(0).ownerDocument().nodeName()`, "#document"},
		{`doc.find("html").get(0).lang()`, "en"},
		{`doc.find("li").get(0).selection().closest("ul").attr("id")`, "list"},
	}
	for _, c := range cases {
		got, err := eval(t, c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.src, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`doc.find("li[")`, "invalid CSS selector"},
		{`parseHTML()`, "needs the HTML source"},
		{`doc.find("li").each()`, "needs a function"},
		{`doc.find("li").each(() => { throw new Error("boom") })`, "boom"},
	} {
		_, err := eval(t, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.src, err, c.want)
		}
	}
}

// ParseHTML is the entry point k6/http's res.html() uses.
func TestParseHTMLForOtherModules(t *testing.T) {
	vu := exttest.New(nil)
	v, err := html.ParseHTML(vu.RT, "<p>hi <b>there</b></p>")
	if err != nil {
		t.Fatal(err)
	}
	_ = vu.RT.Set("doc", v)
	got, err := vu.RT.RunString(`doc.find("b").text()`)
	if err != nil || got.String() != "there" {
		t.Fatalf("got %v, %v", got, err)
	}
}
