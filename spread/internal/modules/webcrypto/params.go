package webcrypto

import (
	"strings"

	"github.com/dop251/goja"

	"spread.dev/spread/internal/modules/jsbytes"
)

// Algorithm names as the spec spells them; lookups are case-insensitive.
var algNames = map[string]string{}

func init() {
	for _, n := range []string{"AES-CBC", "AES-CTR", "AES-GCM", "AES-KW", "HMAC", "ECDSA", "ECDH",
		"RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "Ed25519", "PBKDF2", "HKDF"} {
		algNames[strings.ToUpper(n)] = n
	}
}

// params is an algorithm argument read on the VU goroutine: every buffer
// copied, so the work can run elsewhere.
type params struct {
	name           string
	hash           string
	length         int // bits: AES key size, HMAC key size, CTR counter bits, deriveBits
	hasLength      bool
	namedCurve     string
	modulusLength  int
	publicExponent []byte
	iv             []byte
	counter        []byte
	additionalData []byte
	tagLength      int
	label          []byte
	saltLength     int
	hasSaltLength  bool
	public         *key
	salt           []byte // PBKDF2, HKDF
	info           []byte // HKDF
	hasSalt        bool
	hasInfo        bool
	iterations     int // PBKDF2
}

// normName canonicalises an algorithm name or reports NotSupportedError.
func normName(n string) (string, error) {
	if c, ok := algNames[strings.ToUpper(n)]; ok {
		return c, nil
	}
	return "", notSupported("unrecognized algorithm name %q", n)
}

func isNullish(v goja.Value) bool { return v == nil || goja.IsUndefined(v) || goja.IsNull(v) }

// readParams reads an AlgorithmIdentifier: a name or an object with one.
func readParams(rt *goja.Runtime, v goja.Value) (*params, error) {
	if isNullish(v) {
		return nil, typeErr("an algorithm is required")
	}
	p := &params{}
	o, isObj := v.(*goja.Object)
	if !isObj {
		n, err := normName(v.String())
		if err != nil {
			return nil, err
		}
		p.name = n
		return p, nil
	}
	nv := o.Get("name")
	if isNullish(nv) {
		return nil, typeErr("the algorithm has no name")
	}
	n, err := normName(nv.String())
	if err != nil {
		return nil, err
	}
	p.name = n
	if h := o.Get("hash"); !isNullish(h) {
		hp, err := readParams(rt, h)
		if err != nil {
			return nil, err
		}
		if _, ok := hashes[hp.name]; !ok {
			return nil, notSupported("hash %q is not a digest algorithm", hp.name)
		}
		p.hash = hp.name
	}
	if l := o.Get("length"); !isNullish(l) {
		p.length, p.hasLength = int(l.ToInteger()), true
	}
	if c := o.Get("namedCurve"); !isNullish(c) {
		p.namedCurve = c.String()
	}
	if m := o.Get("modulusLength"); !isNullish(m) {
		p.modulusLength = int(m.ToInteger())
	}
	bufs := []struct {
		key string
		dst *[]byte
	}{{"publicExponent", &p.publicExponent}, {"iv", &p.iv}, {"counter", &p.counter},
		{"additionalData", &p.additionalData}, {"label", &p.label}}
	for _, b := range bufs {
		if x := o.Get(b.key); !isNullish(x) {
			bs, err := jsbytes.Copy(rt, x)
			if err != nil {
				return nil, typeErr("algorithm.%s: %v", b.key, err)
			}
			*b.dst = bs
		}
	}
	for _, b := range []struct {
		key string
		dst *[]byte
		has *bool
	}{{"salt", &p.salt, &p.hasSalt}, {"info", &p.info, &p.hasInfo}} {
		if x := o.Get(b.key); !isNullish(x) {
			bs, err := jsbytes.Copy(rt, x)
			if err != nil {
				return nil, typeErr("algorithm.%s: %v", b.key, err)
			}
			*b.dst, *b.has = bs, true
		}
	}
	if it := o.Get("iterations"); !isNullish(it) {
		p.iterations = int(it.ToInteger())
	}
	if t := o.Get("tagLength"); !isNullish(t) {
		p.tagLength = int(t.ToInteger())
	}
	if s := o.Get("saltLength"); !isNullish(s) {
		p.saltLength, p.hasSaltLength = int(s.ToInteger()), true
	}
	if pub := o.Get("public"); !isNullish(pub) {
		k, ok := keyOf(pub)
		if !ok {
			return nil, typeErr("algorithm.public must be a CryptoKey")
		}
		p.public = k
	}
	return p, nil
}

// readBytes copies a BufferSource argument.
func readBytes(rt *goja.Runtime, v goja.Value, what string) ([]byte, error) {
	b, err := jsbytes.Copy(rt, v)
	if err != nil {
		return nil, typeErr("%s: %v", what, err)
	}
	return b, nil
}

// readUsages reads the keyUsages array.
func readUsages(rt *goja.Runtime, v goja.Value) ([]string, error) {
	if isNullish(v) {
		return nil, typeErr("keyUsages must be an array")
	}
	var out []string
	if err := rt.ExportTo(v, &out); err != nil {
		return nil, typeErr("keyUsages must be an array of strings")
	}
	for _, u := range out {
		switch u {
		case "encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey":
		default:
			return nil, typeErr("unknown key usage %q", u)
		}
	}
	return out, nil
}
