package crypto_test

import (
	"strings"
	"testing"

	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/crypto"
)

func eval(t *testing.T, src string) (string, error) {
	t.Helper()
	vu := exttest.New(nil)
	v, err := vu.RT.RunString("const crypto = require('k6/crypto');\n" + src)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// Published vectors: "abc" from RFC 1320 (md4), RFC 1321 (md5), FIPS 180-4
// examples (sha*), the RIPEMD-160 authors' page; HMAC from RFC 4231 test
// case 2 and RFC 2202; k6's documented sha256/hmac examples.
func TestHashes(t *testing.T) {
	cases := []struct{ src, want string }{
		{`crypto.md4("abc", "hex")`, "a448017aaf21d8525fc10ae87aa6729d"},
		{`crypto.md5("abc", "hex")`, "900150983cd24fb0d6963f7d28e17f72"},
		{`crypto.sha1("abc", "hex")`, "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{`crypto.sha256("abc", "hex")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`crypto.sha384("abc", "hex")`, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"},
		{`crypto.sha512("abc", "hex")`, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{`crypto.sha512_224("abc", "hex")`, "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"},
		{`crypto.sha512_256("abc", "hex")`, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"},
		{`crypto.ripemd160("abc", "hex")`, "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"},
		// k6's documentation example, with a string and with an ArrayBuffer.
		{`crypto.sha256("hello world!", "hex")`, "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9"},
		{`crypto.sha256(new Uint8Array([104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33]).buffer, "hex")`, "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9"},
		{`crypto.md5("abc", "base64")`, "kAFQmDzST7DWlj99KOF/cg=="},
		{`crypto.sha1("abc", "base64url")`, "qZk-NkcGgWq6PiVxeFDCbJzQ2J0="},
		{`crypto.sha1("abc", "base64rawurl")`, "qZk-NkcGgWq6PiVxeFDCbJzQ2J0"},
		{`crypto.md5("abc", "binary").byteLength`, "16"},
		{`new Uint8Array(crypto.md5("abc", "binary"))[0]`, "144"},
		{`crypto.hmac("sha256", "Jefe", "what do ya want for nothing?", "hex")`, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{`crypto.hmac("sha512", "Jefe", "what do ya want for nothing?", "hex")`, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{`crypto.hmac("md5", "Jefe", "what do ya want for nothing?", "hex")`, "750c783e6ab0b503eaa86e310a5db738"},
		{`crypto.hmac("sha1", "Jefe", "what do ya want for nothing?", "hex")`, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{`crypto.createHash("sha256").update("ab").update("c").digest("hex")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`const h = crypto.createHMAC("sha256", "Jefe"); h.update("what do ya want "); h.update("for nothing?"); h.digest("hex")`, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{`crypto.randomBytes(32).byteLength`, "32"},
		{`crypto.default === undefined`, "true"},
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

func TestRandomBytesDiffer(t *testing.T) {
	got, err := eval(t, `const a = new Uint8Array(crypto.randomBytes(16)), b = new Uint8Array(crypto.randomBytes(16)); a.join() !== b.join()`)
	if err != nil || got != "true" {
		t.Fatalf("two randomBytes(16) equal or error: %q %v", got, err)
	}
}

func TestCryptoErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`crypto.createHash("sha3")`, "unknown hash algorithm \"sha3\""},
		{`crypto.sha256("x", "base32")`, "unknown output encoding"},
		{`crypto.hmac("sha256", undefined, "x", "hex")`, "needs a secret"},
		{`crypto.randomBytes(0)`, "out of range"},
	}
	for _, c := range cases {
		_, err := eval(t, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.src, err, c.want)
		}
	}
}
