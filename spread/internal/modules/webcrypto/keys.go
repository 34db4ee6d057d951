package webcrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"

	"github.com/dop251/goja"
)

// hashes are WebCrypto's digest algorithms.
var hashes = map[string]crypto.Hash{
	"SHA-1": crypto.SHA1, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512,
}

var _ = []any{sha1.New, sha256.New, sha512.New} // link the hash implementations crypto.Hash.New needs

var curves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}

// key is a CryptoKey's Go side.
type key struct {
	alg         string // canonical algorithm name
	typ         string // "secret", "public", "private"
	extractable bool
	usages      []string
	hash        string // HMAC, RSA*
	length      int    // AES / HMAC key bits
	curve       string // ECDSA / ECDH
	secret      []byte
	ecPriv      *ecdsa.PrivateKey
	ecPub       *ecdsa.PublicKey
	rsaPriv     *rsa.PrivateKey
	rsaPub      *rsa.PublicKey
	edPriv      ed25519.PrivateKey
	edPub       ed25519.PublicKey
}

// CryptoKey is the JS object scripts hold; the Go key rides along
// unexported (the runtime's field mapper only shows tagged fields).
type CryptoKey struct {
	Type        string     `js:"type"`
	Extractable bool       `js:"extractable"`
	Algorithm   goja.Value `js:"algorithm"`
	Usages      []string   `js:"usages"`
	k           *key
}

func keyOf(v goja.Value) (*key, bool) {
	if isNullish(v) {
		return nil, false
	}
	ck, ok := v.Export().(*CryptoKey)
	if !ok || ck.k == nil {
		return nil, false
	}
	return ck.k, true
}

// jsKey builds the CryptoKey object (on the VU goroutine).
func jsKey(rt *goja.Runtime, k *key) goja.Value {
	alg := rt.NewObject()
	_ = alg.Set("name", k.alg)
	switch k.alg {
	case "AES-CBC", "AES-CTR", "AES-GCM", "AES-KW":
		_ = alg.Set("length", k.length)
	case "HMAC":
		_ = alg.Set("length", k.length)
		_ = alg.Set("hash", hashObj(rt, k.hash))
	case "ECDSA", "ECDH":
		_ = alg.Set("namedCurve", k.curve)
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		pub := k.rsaPub
		_ = alg.Set("modulusLength", pub.N.BitLen())
		e := big.NewInt(int64(pub.E)).Bytes()
		u8, _ := rt.New(rt.Get("Uint8Array"), rt.ToValue(rt.NewArrayBuffer(e)))
		_ = alg.Set("publicExponent", u8)
		_ = alg.Set("hash", hashObj(rt, k.hash))
	}
	return rt.ToValue(&CryptoKey{Type: k.typ, Extractable: k.extractable, Algorithm: alg, Usages: k.usages, k: k})
}

func hashObj(rt *goja.Runtime, name string) *goja.Object {
	o := rt.NewObject()
	_ = o.Set("name", name)
	return o
}

// allowed usages per algorithm and key type.
func allowedUsages(alg, typ string) []string {
	switch alg {
	case "AES-CBC", "AES-CTR", "AES-GCM":
		return []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}
	case "AES-KW":
		return []string{"wrapKey", "unwrapKey"}
	case "HMAC":
		return []string{"sign", "verify"}
	case "ECDSA", "RSASSA-PKCS1-v1_5", "RSA-PSS", "Ed25519":
		if typ == "private" {
			return []string{"sign"}
		}
		return []string{"verify"}
	case "ECDH":
		if typ == "private" {
			return []string{"deriveKey", "deriveBits"}
		}
		return nil
	case "RSA-OAEP":
		if typ == "private" {
			return []string{"decrypt", "unwrapKey"}
		}
		return []string{"encrypt", "wrapKey"}
	case "PBKDF2", "HKDF":
		return []string{"deriveKey", "deriveBits"}
	}
	return nil
}

func checkUsages(alg, typ string, usages []string) error {
	ok := allowedUsages(alg, typ)
	for _, u := range usages {
		if !slices.Contains(ok, u) {
			return syntaxErr("usage %q is not valid for a %s %s key", u, alg, typ)
		}
	}
	if (typ == "secret" || typ == "private") && len(usages) == 0 {
		return syntaxErr("a %s %s key needs at least one usage", alg, typ)
	}
	return nil
}

// split gives each half of a key pair its share of the requested usages.
func split(alg string, usages []string) (pub, priv []string) {
	pubOK, privOK := allowedUsages(alg, "public"), allowedUsages(alg, "private")
	pub, priv = []string{}, []string{}
	for _, u := range usages {
		if slices.Contains(pubOK, u) {
			pub = append(pub, u)
		}
		if slices.Contains(privOK, u) {
			priv = append(priv, u)
		}
	}
	return pub, priv
}

func hmacDefaultLength(hash string) int {
	if hash == "SHA-384" || hash == "SHA-512" {
		return 1024
	}
	return 512
}

// generate makes a key or key pair (off the VU goroutine).
func generate(p *params, extractable bool, usages []string) (*key, *key, error) {
	switch p.name {
	case "AES-CBC", "AES-CTR", "AES-GCM", "AES-KW":
		if p.length != 128 && p.length != 192 && p.length != 256 {
			return nil, nil, operation("AES key length must be 128, 192 or 256 bits, not %d", p.length)
		}
		if err := checkUsages(p.name, "secret", usages); err != nil {
			return nil, nil, err
		}
		b := make([]byte, p.length/8)
		_, _ = rand.Read(b)
		return &key{alg: p.name, typ: "secret", extractable: extractable, usages: usages, length: p.length, secret: b}, nil, nil
	case "HMAC":
		if p.hash == "" {
			return nil, nil, typeErr("HMAC needs a hash")
		}
		l := p.length
		if !p.hasLength {
			l = hmacDefaultLength(p.hash)
		}
		if l <= 0 || l%8 != 0 {
			return nil, nil, operation("HMAC key length %d must be a positive multiple of 8", l)
		}
		if err := checkUsages(p.name, "secret", usages); err != nil {
			return nil, nil, err
		}
		b := make([]byte, l/8)
		_, _ = rand.Read(b)
		return &key{alg: p.name, typ: "secret", extractable: extractable, usages: usages, hash: p.hash, length: l, secret: b}, nil, nil
	case "ECDSA", "ECDH":
		c, ok := curves[p.namedCurve]
		if !ok {
			return nil, nil, notSupported("named curve %q (want P-256, P-384 or P-521)", p.namedCurve)
		}
		pubU, privU := split(p.name, usages)
		if err := checkUsages(p.name, "private", privU); err != nil {
			return nil, nil, err
		}
		if len(pubU)+len(privU) < len(usages) {
			return nil, nil, syntaxErr("usages %v are not valid for %s", usages, p.name)
		}
		priv, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			return nil, nil, operation("%v", err)
		}
		return &key{alg: p.name, typ: "public", extractable: true, usages: pubU, curve: p.namedCurve, ecPub: &priv.PublicKey},
			&key{alg: p.name, typ: "private", extractable: extractable, usages: privU, curve: p.namedCurve, ecPriv: priv, ecPub: &priv.PublicKey}, nil
	case "Ed25519":
		pubU, privU := split(p.name, usages)
		if err := checkUsages(p.name, "private", privU); err != nil {
			return nil, nil, err
		}
		if len(pubU)+len(privU) < len(usages) {
			return nil, nil, syntaxErr("usages %v are not valid for %s", usages, p.name)
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, operation("%v", err)
		}
		return &key{alg: p.name, typ: "public", extractable: true, usages: pubU, edPub: pub},
			&key{alg: p.name, typ: "private", extractable: extractable, usages: privU, edPriv: priv, edPub: pub}, nil
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		if p.hash == "" {
			return nil, nil, typeErr("%s needs a hash", p.name)
		}
		if new(big.Int).SetBytes(p.publicExponent).Cmp(big.NewInt(65537)) != 0 {
			return nil, nil, notSupported("only the public exponent 65537 ([1, 0, 1]) is supported")
		}
		if p.modulusLength < 1024 || p.modulusLength > 8192 || p.modulusLength%8 != 0 {
			return nil, nil, operation("modulusLength %d must be a multiple of 8 in 1024..8192", p.modulusLength)
		}
		pubU, privU := split(p.name, usages)
		if err := checkUsages(p.name, "private", privU); err != nil {
			return nil, nil, err
		}
		if len(pubU)+len(privU) < len(usages) {
			return nil, nil, syntaxErr("usages %v are not valid for %s", usages, p.name)
		}
		priv, err := rsa.GenerateKey(rand.Reader, p.modulusLength)
		if err != nil {
			return nil, nil, operation("%v", err)
		}
		return &key{alg: p.name, typ: "public", extractable: true, usages: pubU, hash: p.hash, rsaPub: &priv.PublicKey},
			&key{alg: p.name, typ: "private", extractable: extractable, usages: privU, hash: p.hash, rsaPriv: priv, rsaPub: &priv.PublicKey}, nil
	}
	return nil, nil, notSupported("generateKey does not support %s", p.name)
}

// keyData is importKey's input: bytes, or a JWK decoded to a map.
type keyData struct {
	raw []byte
	jwk map[string]any
}

func importKey(format string, kd keyData, p *params, extractable bool, usages []string) (*key, error) {
	k := &key{alg: p.name, extractable: extractable, usages: usages, hash: p.hash}
	switch format {
	case "raw":
		switch p.name {
		case "AES-CBC", "AES-CTR", "AES-GCM", "AES-KW":
			if n := len(kd.raw); n != 16 && n != 24 && n != 32 {
				return nil, dataErr("an AES key is 16, 24 or 32 bytes, not %d", n)
			}
			k.typ, k.secret, k.length = "secret", kd.raw, len(kd.raw)*8
		case "HMAC":
			if p.hash == "" {
				return nil, typeErr("HMAC needs a hash")
			}
			if len(kd.raw) == 0 {
				return nil, dataErr("an HMAC key cannot be empty")
			}
			k.typ, k.secret, k.length = "secret", kd.raw, len(kd.raw)*8
			if p.hasLength && p.length != k.length {
				return nil, dataErr("HMAC length %d does not match the %d-bit key", p.length, k.length)
			}
		case "ECDSA", "ECDH":
			c, ok := curves[p.namedCurve]
			if !ok {
				return nil, notSupported("named curve %q", p.namedCurve)
			}
			x, y := elliptic.Unmarshal(c, kd.raw) //nolint:staticcheck // the uncompressed point format WebCrypto's raw EC keys use
			if x == nil {
				return nil, dataErr("not an uncompressed point on %s", p.namedCurve)
			}
			k.typ, k.curve, k.ecPub = "public", p.namedCurve, &ecdsa.PublicKey{Curve: c, X: x, Y: y}
		case "PBKDF2", "HKDF":
			// The spec: these "keys" are secret input keying material,
			// imported raw and never extractable.
			if extractable {
				return nil, syntaxErr("%s keys cannot be extractable", p.name)
			}
			k.typ, k.secret, k.length = "secret", kd.raw, len(kd.raw)*8
		case "Ed25519":
			if len(kd.raw) != ed25519.PublicKeySize {
				return nil, dataErr("an Ed25519 public key is 32 bytes, not %d", len(kd.raw))
			}
			k.typ, k.edPub = "public", ed25519.PublicKey(kd.raw)
		default:
			return nil, notSupported("raw import of %s keys", p.name)
		}
	case "spki", "pkcs8":
		var parsed any
		var err error
		if format == "spki" {
			parsed, err = x509.ParsePKIXPublicKey(kd.raw)
		} else {
			parsed, err = x509.ParsePKCS8PrivateKey(kd.raw)
		}
		if err != nil {
			return nil, dataErr("%s: %v", format, err)
		}
		if err := k.setAsymmetric(parsed, p); err != nil {
			return nil, err
		}
	case "jwk":
		if err := k.fromJWK(kd.jwk, p); err != nil {
			return nil, err
		}
	default:
		return nil, notSupported("key format %q (want raw, jwk, spki or pkcs8)", format)
	}
	if err := checkUsages(k.alg, k.typ, usages); err != nil {
		return nil, err
	}
	return k, nil
}

// setAsymmetric fills k from a parsed spki/pkcs8 key.
func (k *key) setAsymmetric(parsed any, p *params) error {
	switch pk := parsed.(type) {
	case *ecdsa.PublicKey:
		k.typ, k.ecPub = "public", pk
	case *ecdsa.PrivateKey:
		k.typ, k.ecPriv, k.ecPub = "private", pk, &pk.PublicKey
	case *rsa.PublicKey:
		k.typ, k.rsaPub = "public", pk
	case *rsa.PrivateKey:
		k.typ, k.rsaPriv, k.rsaPub = "private", pk, &pk.PublicKey
	case ed25519.PublicKey:
		k.typ, k.edPub = "public", pk
	case ed25519.PrivateKey:
		k.typ, k.edPriv, k.edPub = "private", pk, pk.Public().(ed25519.PublicKey)
	default:
		return notSupported("key type %T", parsed)
	}
	switch p.name {
	case "ECDSA", "ECDH":
		if k.ecPub == nil {
			return dataErr("not an EC key")
		}
		name := k.ecPub.Curve.Params().Name
		if name != p.namedCurve {
			return dataErr("the key is on %s, not %s", name, p.namedCurve)
		}
		k.curve = name
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		if k.rsaPub == nil {
			return dataErr("not an RSA key")
		}
		if p.hash == "" {
			return typeErr("%s needs a hash", p.name)
		}
	case "Ed25519":
		if k.edPub == nil {
			return dataErr("not an Ed25519 key")
		}
	default:
		return notSupported("spki/pkcs8 import of %s keys", p.name)
	}
	return nil
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwkBytes(m map[string]any, name string) ([]byte, error) {
	s, ok := m[name].(string)
	if !ok {
		return nil, dataErr("jwk: missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, dataErr("jwk: %q is not base64url: %v", name, err)
	}
	return b, nil
}

func jwkInt(m map[string]any, name string) (*big.Int, error) {
	b, err := jwkBytes(m, name)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// jwkAlg is the "alg" member a JWK of k carries (RFC 7518).
func jwkAlg(k *key) string {
	bits := map[string]string{"SHA-1": "1", "SHA-256": "256", "SHA-384": "384", "SHA-512": "512"}[k.hash]
	switch k.alg {
	case "HMAC":
		return "HS" + bits
	case "AES-CBC":
		return fmt.Sprintf("A%dCBC", k.length)
	case "AES-CTR":
		return fmt.Sprintf("A%dCTR", k.length)
	case "AES-GCM":
		return fmt.Sprintf("A%dGCM", k.length)
	case "AES-KW":
		return fmt.Sprintf("A%dKW", k.length)
	case "RSASSA-PKCS1-v1_5":
		return "RS" + bits
	case "RSA-PSS":
		return "PS" + bits
	case "RSA-OAEP":
		if k.hash == "SHA-1" {
			return "RSA-OAEP"
		}
		return "RSA-OAEP-" + bits
	}
	return ""
}

func (k *key) fromJWK(m map[string]any, p *params) error {
	if m == nil {
		return typeErr("jwk import needs a JSON Web Key object")
	}
	kty, _ := m["kty"].(string)
	if ext, ok := m["ext"].(bool); ok && !ext && k.extractable {
		return dataErr("jwk: ext is false but the key was asked extractable")
	}
	switch p.name {
	case "AES-CBC", "AES-CTR", "AES-GCM", "AES-KW", "HMAC":
		if kty != "oct" {
			return dataErr("jwk: kty %q, want oct", kty)
		}
		b, err := jwkBytes(m, "k")
		if err != nil {
			return err
		}
		k.typ, k.secret, k.length = "secret", b, len(b)*8
		if p.name == "HMAC" {
			if p.hash == "" {
				return typeErr("HMAC needs a hash")
			}
		} else if n := len(b); n != 16 && n != 24 && n != 32 {
			return dataErr("an AES key is 16, 24 or 32 bytes, not %d", n)
		}
		if a, ok := m["alg"].(string); ok && a != jwkAlg(k) {
			return dataErr("jwk: alg %q does not match %s (%s)", a, p.name, jwkAlg(k))
		}
	case "ECDSA", "ECDH":
		if kty != "EC" {
			return dataErr("jwk: kty %q, want EC", kty)
		}
		crv, _ := m["crv"].(string)
		c, ok := curves[crv]
		if !ok || crv != p.namedCurve {
			return dataErr("jwk: crv %q, want %s", crv, p.namedCurve)
		}
		x, err := jwkInt(m, "x")
		if err != nil {
			return err
		}
		y, err := jwkInt(m, "y")
		if err != nil {
			return err
		}
		if !c.IsOnCurve(x, y) { //nolint:staticcheck // validating an imported point
			return dataErr("jwk: the point is not on %s", crv)
		}
		pub := &ecdsa.PublicKey{Curve: c, X: x, Y: y}
		k.curve, k.typ, k.ecPub = crv, "public", pub
		if _, has := m["d"]; has {
			d, err := jwkInt(m, "d")
			if err != nil {
				return err
			}
			k.typ, k.ecPriv = "private", &ecdsa.PrivateKey{PublicKey: *pub, D: d}
		}
	case "Ed25519":
		// RFC 8037: kty OKP, crv Ed25519, x the public key, d the seed.
		if crv, _ := m["crv"].(string); kty != "OKP" || crv != "Ed25519" {
			return dataErr("jwk: kty %q crv %q, want OKP Ed25519", kty, m["crv"])
		}
		x, err := jwkBytes(m, "x")
		if err != nil {
			return err
		}
		if len(x) != ed25519.PublicKeySize {
			return dataErr("jwk: x is %d bytes, want 32", len(x))
		}
		k.typ, k.edPub = "public", ed25519.PublicKey(x)
		if _, has := m["d"]; has {
			d, err := jwkBytes(m, "d")
			if err != nil {
				return err
			}
			if len(d) != ed25519.SeedSize {
				return dataErr("jwk: d is %d bytes, want 32", len(d))
			}
			priv := ed25519.NewKeyFromSeed(d)
			if !priv.Public().(ed25519.PublicKey).Equal(k.edPub) {
				return dataErr("jwk: d does not match x")
			}
			k.typ, k.edPriv = "private", priv
		}
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		if kty != "RSA" {
			return dataErr("jwk: kty %q, want RSA", kty)
		}
		if p.hash == "" {
			return typeErr("%s needs a hash", p.name)
		}
		n, err := jwkInt(m, "n")
		if err != nil {
			return err
		}
		e, err := jwkInt(m, "e")
		if err != nil {
			return err
		}
		if !e.IsInt64() || e.Int64() > 1<<31 {
			return dataErr("jwk: exponent too large")
		}
		pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		k.typ, k.rsaPub = "public", pub
		if _, has := m["d"]; has {
			d, err := jwkInt(m, "d")
			if err != nil {
				return err
			}
			priv := &rsa.PrivateKey{PublicKey: *pub, D: d}
			pp, perr := jwkInt(m, "p")
			q, qerr := jwkInt(m, "q")
			if perr == nil && qerr == nil {
				priv.Primes = []*big.Int{pp, q}
			} else {
				return notSupported("jwk: RSA private keys without p and q")
			}
			if err := priv.Validate(); err != nil {
				return dataErr("jwk: %v", err)
			}
			priv.Precompute()
			k.typ, k.rsaPriv = "private", priv
		}
		k.hash = p.hash
		if a, ok := m["alg"].(string); ok && a != jwkAlg(k) {
			return dataErr("jwk: alg %q does not match %s with %s (%s)", a, p.name, p.hash, jwkAlg(k))
		}
	default:
		return notSupported("jwk import of %s keys", p.name)
	}
	return nil
}

// pad left-pads b to n bytes (JWK EC coordinates are fixed-size).
func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

func curveBytes(c elliptic.Curve) int { return (c.Params().BitSize + 7) / 8 }

// exportKey returns bytes or a JWK map.
func exportKey(format string, k *key) ([]byte, map[string]any, error) {
	if !k.extractable {
		return nil, nil, invalidAccess("the key is not extractable")
	}
	switch format {
	case "raw":
		if k.typ == "secret" {
			return append([]byte(nil), k.secret...), nil, nil
		}
		if k.typ == "public" && k.edPub != nil {
			return append([]byte(nil), k.edPub...), nil, nil
		}
		if k.typ == "public" && k.ecPub != nil {
			return elliptic.Marshal(k.ecPub.Curve, k.ecPub.X, k.ecPub.Y), nil, nil //nolint:staticcheck // WebCrypto's raw EC format
		}
		return nil, nil, invalidAccess("raw export of a %s %s key", k.alg, k.typ)
	case "spki":
		if k.typ != "public" {
			return nil, nil, invalidAccess("spki export needs a public key")
		}
		var pub any = k.ecPub
		if k.rsaPub != nil {
			pub = k.rsaPub
		} else if k.edPub != nil {
			pub = k.edPub
		}
		b, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, nil, operation("%v", err)
		}
		return b, nil, nil
	case "pkcs8":
		if k.typ != "private" {
			return nil, nil, invalidAccess("pkcs8 export needs a private key")
		}
		var priv any = k.ecPriv
		if k.rsaPriv != nil {
			priv = k.rsaPriv
		} else if k.edPriv != nil {
			priv = k.edPriv
		}
		b, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, nil, operation("%v", err)
		}
		return b, nil, nil
	case "jwk":
		m := map[string]any{"ext": k.extractable, "key_ops": append([]string{}, k.usages...)}
		if a := jwkAlg(k); a != "" {
			m["alg"] = a
		}
		switch {
		case k.typ == "secret":
			m["kty"], m["k"] = "oct", b64u(k.secret)
		case k.edPub != nil:
			m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64u(k.edPub)
			if k.edPriv != nil {
				m["d"] = b64u(k.edPriv.Seed())
			}
		case k.ecPub != nil:
			n := curveBytes(k.ecPub.Curve)
			m["kty"], m["crv"] = "EC", k.curve
			m["x"], m["y"] = b64u(pad(k.ecPub.X.Bytes(), n)), b64u(pad(k.ecPub.Y.Bytes(), n))
			if k.ecPriv != nil {
				m["d"] = b64u(pad(k.ecPriv.D.Bytes(), n))
			}
		case k.rsaPub != nil:
			m["kty"], m["n"], m["e"] = "RSA", b64u(k.rsaPub.N.Bytes()), b64u(big.NewInt(int64(k.rsaPub.E)).Bytes())
			if r := k.rsaPriv; r != nil {
				r.Precompute()
				m["d"], m["p"], m["q"] = b64u(r.D.Bytes()), b64u(r.Primes[0].Bytes()), b64u(r.Primes[1].Bytes())
				m["dp"], m["dq"], m["qi"] = b64u(r.Precomputed.Dp.Bytes()), b64u(r.Precomputed.Dq.Bytes()), b64u(r.Precomputed.Qinv.Bytes())
			}
		}
		return nil, m, nil
	}
	return nil, nil, notSupported("key format %q (want raw, jwk, spki or pkcs8)", format)
}
