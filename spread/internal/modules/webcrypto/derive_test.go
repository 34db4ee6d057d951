package webcrypto_test

import (
	"strconv"
	"testing"
)

var itoa = strconv.Itoa

// PBKDF2 against RFC 6070 (HMAC-SHA1) and RFC 7914 section 11
// (HMAC-SHA256), through importKey raw + deriveBits and deriveKey.
func TestPBKDF2(t *testing.T) {
	bits := func(pw, salt, hash string, iter, n int) string {
		return `
const k = await subtle.importKey("raw", utf8("` + pw + `"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
return hex(await subtle.deriveBits({ name: "PBKDF2", hash: "` + hash + `", salt: utf8("` + salt + `"), iterations: ` + itoa(iter) + ` }, k, ` + itoa(n) + `))`
	}
	runCases(t, []tcase{
		{"rfc6070 c=1", bits("password", "salt", "SHA-1", 1, 160), "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{"rfc6070 c=2", bits("password", "salt", "SHA-1", 2, 160), "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
		{"rfc6070 c=4096", bits("password", "salt", "SHA-1", 4096, 160), "4b007901b765489abead49d926f721d065a429c1"},
		{"rfc6070 long", bits("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", "SHA-1", 4096, 200), "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
		{"rfc7914 sha256 c=1", bits("passwd", "salt", "SHA-256", 1, 512),
			"55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
		{"derive AES-GCM key then encrypt/decrypt", `
const base = await subtle.importKey("raw", utf8("password"), { name: "PBKDF2" }, false, ["deriveKey"]);
const k = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-1", salt: utf8("salt"), iterations: 1 }, base,
  { name: "AES-GCM", length: 128 }, true, ["encrypt", "decrypt"]);
const raw = await subtle.exportKey("raw", k);
const iv = new Uint8Array(12);
const ct = await subtle.encrypt({ name: "AES-GCM", iv }, k, utf8("hi"));
const pt = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv }, k, ct));
return [hex(raw), k.algorithm.name, k.algorithm.length, k.usages.join(","), String.fromCharCode(...pt)].join(" ")`,
			"0c60c80f961f0e71f3a9b524af601206 AES-GCM 128 encrypt,decrypt hi"},
		{"derive HMAC key with default length", `
const base = await subtle.importKey("raw", utf8("password"), "PBKDF2", false, ["deriveKey"]);
const k = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: utf8("salt"), iterations: 2 }, base,
  { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
return k.algorithm.length + " " + (await subtle.exportKey("raw", k)).byteLength`, "512 64"},
	})
}

// HKDF against RFC 5869 test cases 1 and 3 (SHA-256).
func TestHKDF(t *testing.T) {
	runCases(t, []tcase{
		{"rfc5869 tc1", `
const k = await subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveBits"]);
return hex(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: unhex("000102030405060708090a0b0c"), info: unhex("f0f1f2f3f4f5f6f7f8f9") }, k, 42 * 8))`,
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
		{"rfc5869 tc3 empty salt and info", `
const k = await subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveBits"]);
return hex(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new Uint8Array(0) }, k, 42 * 8))`,
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
		{"deriveKey AES-KW", `
const k = await subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveKey"]);
const w = await subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: unhex("000102030405060708090a0b0c"), info: unhex("f0f1f2f3f4f5f6f7f8f9") }, k,
  { name: "AES-KW", length: 256 }, true, ["wrapKey", "unwrapKey"]);
return hex(await subtle.exportKey("raw", w))`, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"},
	})
}

// AES-KW against RFC 3394 sections 4.1 and 4.6, plus wrapping a JWK with
// AES-GCM (wrapKey/unwrapKey over any encrypt algorithm).
func TestWrapKey(t *testing.T) {
	kw := func(kek, data string) string {
		return `
const kek = await subtle.importKey("raw", unhex("` + kek + `"), "AES-KW", false, ["wrapKey", "unwrapKey"]);
const k = await subtle.importKey("raw", unhex("` + data + `"), "AES-CBC", true, ["encrypt"]);
const w = await subtle.wrapKey("raw", k, kek, "AES-KW");
const back = await subtle.unwrapKey("raw", w, kek, "AES-KW", "AES-CBC", true, ["encrypt"]);
return hex(w) + " " + (hex(await subtle.exportKey("raw", back)) === "` + data + `")`
	}
	runCases(t, []tcase{
		{"rfc3394 4.1", kw("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff"),
			"1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5 true"},
		{"rfc3394 4.6", kw("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f"),
			"28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21 true"},
		{"jwk wrapped with AES-GCM", `
const kek = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["wrapKey", "unwrapKey"]);
const k = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
const iv = crypto.getRandomValues(new Uint8Array(12));
const w = await subtle.wrapKey("jwk", k, kek, { name: "AES-GCM", iv });
const back = await subtle.unwrapKey("jwk", w, kek, { name: "AES-GCM", iv }, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
const sig = await subtle.sign("HMAC", k, utf8("m"));
return [await subtle.verify("HMAC", back, sig, utf8("m")), back.extractable, back.usages.join()].join(" ")`, "true false verify"},
	})
	for _, c := range []struct{ name, body, wantName string }{
		{"tampered AES-KW", `
const kek = await subtle.importKey("raw", unhex("000102030405060708090a0b0c0d0e0f"), "AES-KW", false, ["unwrapKey"]);
const w = unhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe6");
await subtle.unwrapKey("raw", w, kek, "AES-KW", "AES-CBC", true, ["encrypt"]); return "no error"`, "OperationError"},
		{"wrapping key without wrapKey usage", `
const kek = await subtle.importKey("raw", unhex("000102030405060708090a0b0c0d0e0f"), "AES-KW", false, ["unwrapKey"]);
const k = await subtle.generateKey({ name: "AES-CBC", length: 128 }, true, ["encrypt"]);
await subtle.wrapKey("raw", k, kek, "AES-KW"); return "no error"`, "InvalidAccessError"},
		{"non-extractable key", `
const kek = await subtle.importKey("raw", unhex("000102030405060708090a0b0c0d0e0f"), "AES-KW", false, ["wrapKey"]);
const k = await subtle.generateKey({ name: "AES-CBC", length: 128 }, false, ["encrypt"]);
await subtle.wrapKey("raw", k, kek, "AES-KW"); return "no error"`, "InvalidAccessError"},
		{"extractable PBKDF2 key", `
await subtle.importKey("raw", utf8("pw"), "PBKDF2", true, ["deriveBits"]); return "no error"`, "SyntaxError"},
		{"PBKDF2 zero iterations", `
const k = await subtle.importKey("raw", utf8("pw"), "PBKDF2", false, ["deriveBits"]);
await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: utf8("s"), iterations: 0 }, k, 256); return "no error"`, "OperationError"},
		{"deriveBits with a deriveKey-only key", `
const k = await subtle.importKey("raw", utf8("pw"), "PBKDF2", false, ["deriveKey"]);
await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: utf8("s"), iterations: 1 }, k, 256); return "no error"`, "InvalidAccessError"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := await(t, c.body, nil)
			je, ok := err.(*jsErr)
			if !ok || je.name != c.wantName {
				t.Fatalf("got %v, want a %s rejection", err, c.wantName)
			}
		})
	}
}

// P-384 and P-521 keys survive a JWK round trip (coordinates padded to
// 48 and 66 bytes) for ECDSA and ECDH.
func TestJWKBigCurves(t *testing.T) {
	for _, crv := range []struct {
		name, hash string
		n          int
	}{{"P-384", "SHA-384", 48}, {"P-521", "SHA-512", 66}} {
		runCases(t, []tcase{
			{crv.name + " ECDSA", `
const kp = await subtle.generateKey({ name: "ECDSA", namedCurve: "` + crv.name + `" }, true, ["sign", "verify"]);
const jpriv = await subtle.exportKey("jwk", kp.privateKey);
const jpub = await subtle.exportKey("jwk", kp.publicKey);
const priv = await subtle.importKey("jwk", jpriv, { name: "ECDSA", namedCurve: "` + crv.name + `" }, false, ["sign"]);
const pub = await subtle.importKey("jwk", jpub, { name: "ECDSA", namedCurve: "` + crv.name + `" }, false, ["verify"]);
const sig = await subtle.sign({ name: "ECDSA", hash: "` + crv.hash + `" }, priv, utf8("m"));
return [jpub.crv, unb64u(jpub.x).length, unb64u(jpriv.d).length, await subtle.verify({ name: "ECDSA", hash: "` + crv.hash + `" }, pub, sig, utf8("m"))].join(" ")`,
				crv.name + " " + itoa(crv.n) + " " + itoa(crv.n) + " true"},
			{crv.name + " ECDH", `
const a = await subtle.generateKey({ name: "ECDH", namedCurve: "` + crv.name + `" }, true, ["deriveBits"]);
const b = await subtle.generateKey({ name: "ECDH", namedCurve: "` + crv.name + `" }, true, ["deriveBits"]);
const alg = { name: "ECDH", namedCurve: "` + crv.name + `" };
const aPriv = await subtle.importKey("jwk", await subtle.exportKey("jwk", a.privateKey), alg, false, ["deriveBits"]);
const bPub = await subtle.importKey("jwk", await subtle.exportKey("jwk", b.publicKey), alg, true, []);
const s1 = await subtle.deriveBits({ name: "ECDH", public: bPub }, aPriv, null);
const s2 = await subtle.deriveBits({ name: "ECDH", public: a.publicKey }, b.privateKey, null);
return (hex(s1) === hex(s2)) + " " + s1.byteLength`, "true " + itoa(crv.n)},
		})
	}
}
