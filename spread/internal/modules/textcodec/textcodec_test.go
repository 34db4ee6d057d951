package textcodec_test

import (
	"strings"
	"testing"

	"github.com/dop251/goja"

	"spread.dev/spread/internal/modules/textcodec"
)

func eval(t *testing.T, src string) (string, error) {
	t.Helper()
	rt := goja.New()
	if err := textcodec.Install(rt); err != nil {
		t.Fatal(err)
	}
	v, err := rt.RunString(src)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// Behaviour from the WHATWG Encoding Standard (MDN's examples).
func TestTextCodec(t *testing.T) {
	cases := []struct{ src, want string }{
		{`new TextEncoder().encoding`, "utf-8"},
		{`Array.from(new TextEncoder().encode("€")).join()`, "226,130,172"},
		{`new TextEncoder().encode("a😀").length`, "5"},
		{`new TextEncoder().encode() instanceof Uint8Array`, "true"},
		{`Array.from(new TextEncoder().encode("\ud800")).join()`, "239,191,189"}, // lone surrogate -> U+FFFD
		{`const u = new Uint8Array(4); const r = new TextEncoder().encodeInto("a€b", u); [r.read, r.written, Array.from(u).join()].join(" ")`, "2 4 97,226,130,172"},
		{`new TextDecoder().decode(new Uint8Array([226, 130, 172]))`, "€"},
		{`new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 104, 105]).buffer)`, "hi"},
		{`new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 104])).length`, "2"},
		{`new TextDecoder().decode(new Uint8Array([104, 0xff, 105]))`, "h\ufffdi"},
		{`new TextDecoder().decode()`, ""},
		{`new TextDecoder("UTF8").encoding`, "utf-8"},
		{`const d = new TextDecoder(); d.decode(new Uint8Array([226, 130]), { stream: true }) + "|" + d.decode(new Uint8Array([172]))`, "|€"},
		{`new TextDecoder("utf-16le").decode(new Uint8Array([0x3d, 0xd8, 0x00, 0xde, 0x41, 0]))`, "😀A"},
		{`new TextDecoder("utf-16be").decode(new Uint8Array([0xd8, 0x3d, 0xde, 0x00]))`, "😀"},
		{`new TextDecoder("utf-16").encoding`, "utf-16le"},
		{`const d = new TextDecoder("utf-16le"); d.decode(new Uint8Array([0x41]), { stream: true }) + d.decode(new Uint8Array([0]))`, "A"},
		{`new TextDecoder("utf-8", { fatal: true }).fatal`, "true"},
		{`new TextDecoder().decode(new DataView(new Uint8Array([0, 104, 105]).buffer, 1))`, "hi"},
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

func TestTextCodecErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`new TextDecoder("latin1")`, "RangeError"},
		{`new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff]))`, "TypeError"},
		{`new TextDecoder("utf-16le", { fatal: true }).decode(new Uint8Array([0x00, 0xd8]))`, "TypeError"},
		{`new TextDecoder().decode("text")`, "TypeError"},
	} {
		_, err := eval(t, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %s", c.src, err, c.want)
		}
	}
}
