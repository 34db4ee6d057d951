package encoding_test

import (
	"strings"
	"testing"

	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/encoding"
)

func eval(t *testing.T, src string) (string, error) {
	t.Helper()
	vu := exttest.New(nil)
	v, err := vu.RT.RunString("const enc = require('k6/encoding');\n" + src)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// RFC 4648 section 10 vectors, plus the alphabets' differences (+/ vs -_,
// padding) and k6's documented examples.
func TestEncoding(t *testing.T) {
	cases := []struct{ src, want string }{
		{`enc.b64encode("")`, ""},
		{`enc.b64encode("f")`, "Zg=="},
		{`enc.b64encode("fo")`, "Zm8="},
		{`enc.b64encode("foo")`, "Zm9v"},
		{`enc.b64encode("foob")`, "Zm9vYg=="},
		{`enc.b64encode("fooba")`, "Zm9vYmE="},
		{`enc.b64encode("foobar")`, "Zm9vYmFy"},
		{`enc.b64encode("f", "rawstd")`, "Zg"},
		{`enc.b64encode(new Uint8Array([0xfb, 0xff]).buffer, "std")`, "+/8="},
		{`enc.b64encode(new Uint8Array([0xfb, 0xff]).buffer, "url")`, "-_8="},
		{`enc.b64encode(new Uint8Array([0xfb, 0xff]).buffer, "rawurl")`, "-_8"},
		{`enc.b64encode(new Uint8Array([1, 0xfb, 0xff, 2]).subarray(1, 3))`, "+/8="},
		{`enc.b64encode("aGVsbG8gd29ybGQ=")`, "YUdWc2JHOGdkMjl5YkdRPQ=="},
		{`enc.b64encode("ü")`, "w7w="}, // UTF-8
		{`enc.b64decode("Zm9vYmFy", "std", "s")`, "foobar"},
		{`enc.b64decode("Zm9vYg", "rawstd", "s")`, "foob"},
		{`enc.b64decode("Zm9vYg", "std", "s")`, "foob"}, // padding stripped still decodes
		{`enc.b64decode("-_8", "rawurl").byteLength`, "2"},
		{`new Uint8Array(enc.b64decode("-_8=", "url"))[0]`, "251"},
		{`enc.b64decode("aGVsbG8gd29ybGQ=") instanceof ArrayBuffer`, "true"},
		{`String.fromCharCode(...new Uint8Array(enc.b64decode("aGVsbG8gd29ybGQ=")))`, "hello world"},
		{`enc.b64decode("w7w=", "std", "s")`, "ü"},
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

func TestEncodingErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`enc.b64encode("x", "base32")`, "unknown base64 encoding"},
		{`enc.b64decode("!!!!")`, "b64decode: std input"},
		{`enc.b64decode("Zg==", "std", "x")`, "unknown format"},
		{`enc.b64encode({})`, "expected a string"},
		{`enc.b64encode()`, "expected a string"},
	}
	for _, c := range cases {
		_, err := eval(t, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.src, err, c.want)
		}
	}
}
