// Package crypto is k6/crypto: one-shot hashes, HMAC, incremental
// hashers (createHash / createHMAC) and randomBytes, on Go's hash
// implementations (golang.org/x/crypto for md4 and ripemd160, which the
// standard library dropped).
package crypto

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"

	"github.com/dop251/goja"
	"golang.org/x/crypto/md4"       //nolint:staticcheck // k6/crypto offers md4; scripts ask for it by name
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // idem

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
)

func init() { ext.Register("k6/crypto", module{}) }

// Hashes are k6/crypto's algorithm names.
var Hashes = map[string]func() hash.Hash{
	"md4":        md4.New,
	"md5":        md5.New,
	"sha1":       sha1.New,
	"sha256":     sha256.New,
	"sha384":     sha512.New384,
	"sha512":     sha512.New,
	"sha512_224": sha512.New512_224,
	"sha512_256": sha512.New512_256,
	"ripemd160":  ripemd160.New,
}

func hashNames() string {
	n := make([]string, 0, len(Hashes))
	for k := range Hashes {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{rt: vu.Runtime()} }

type instance struct{ rt *goja.Runtime }

func (i *instance) Exports() ext.Exports {
	named := map[string]any{
		"hmac":        i.hmac,
		"createHash":  i.createHash,
		"createHMAC":  i.createHMAC,
		"randomBytes": i.randomBytes,
	}
	for name := range Hashes {
		name := name
		named[name] = func(input, enc goja.Value) goja.Value {
			return i.digest(name, nil, input, enc)
		}
	}
	return ext.Exports{Named: named}
}

func (i *instance) newHash(alg string, key goja.Value) hash.Hash {
	mk, ok := Hashes[strings.ToLower(alg)]
	if !ok {
		panic(i.rt.NewTypeError("k6/crypto: unknown hash algorithm %q (want one of %s)", alg, hashNames()))
	}
	if key == nil {
		return mk()
	}
	k, err := jsbytes.Bytes(i.rt, key)
	if err != nil {
		panic(i.rt.NewTypeError("k6/crypto: hmac secret: %v", err))
	}
	return hmac.New(mk, append([]byte(nil), k...))
}

func (i *instance) write(h hash.Hash, input goja.Value) {
	b, err := jsbytes.Bytes(i.rt, input)
	if err != nil {
		panic(i.rt.NewTypeError("k6/crypto: input: %v", err))
	}
	h.Write(b)
}

func (i *instance) digest(alg string, key, input, enc goja.Value) goja.Value {
	h := i.newHash(alg, key)
	i.write(h, input)
	return i.encode(h.Sum(nil), enc)
}

// hmac(algorithm, secret, data, outputEncoding)
func (i *instance) hmac(alg string, secret, data, enc goja.Value) goja.Value {
	if secret == nil || goja.IsUndefined(secret) {
		panic(i.rt.NewTypeError("k6/crypto: hmac needs a secret"))
	}
	return i.digest(alg, secret, data, enc)
}

// Encode renders a digest in one of k6's output encodings: hex, base64,
// base64url (padded), base64rawurl, or binary (an ArrayBuffer).
func Encode(sum []byte, enc string) (string, bool, error) {
	switch enc {
	case "hex":
		return hex.EncodeToString(sum), true, nil
	case "base64":
		return base64.StdEncoding.EncodeToString(sum), true, nil
	case "base64url":
		return base64.URLEncoding.EncodeToString(sum), true, nil
	case "base64rawurl":
		return base64.RawURLEncoding.EncodeToString(sum), true, nil
	case "binary":
		return "", false, nil
	}
	return "", false, fmt.Errorf("unknown output encoding %q (want hex, base64, base64url, base64rawurl or binary)", enc)
}

func (i *instance) encode(sum []byte, encV goja.Value) goja.Value {
	enc := "binary"
	if encV != nil && !goja.IsUndefined(encV) && !goja.IsNull(encV) {
		enc = encV.String()
	}
	s, isString, err := Encode(sum, enc)
	if err != nil {
		panic(i.rt.NewTypeError("k6/crypto: %v", err))
	}
	if isString {
		return i.rt.ToValue(s)
	}
	return jsbytes.ArrayBuffer(i.rt, sum)
}

// hasher is what createHash / createHMAC return.
type hasher struct {
	i *instance
	h hash.Hash
}

func (i *instance) hasherObject(h hash.Hash) *goja.Object {
	hs := &hasher{i: i, h: h}
	o := i.rt.NewObject()
	_ = o.Set("update", func(input goja.Value) goja.Value {
		i.write(hs.h, input)
		return o
	})
	_ = o.Set("digest", func(enc goja.Value) goja.Value {
		return i.encode(hs.h.Sum(nil), enc)
	})
	return o
}

func (i *instance) createHash(alg string) *goja.Object { return i.hasherObject(i.newHash(alg, nil)) }

func (i *instance) createHMAC(alg string, secret goja.Value) *goja.Object {
	if secret == nil || goja.IsUndefined(secret) {
		panic(i.rt.NewTypeError("k6/crypto: createHMAC needs a secret"))
	}
	return i.hasherObject(i.newHash(alg, secret))
}

// randomBytes(size): an ArrayBuffer of size cryptographically random bytes.
func (i *instance) randomBytes(size int64) goja.Value {
	if size < 1 || size > 1<<26 {
		panic(i.rt.NewTypeError("k6/crypto: randomBytes size %d out of range (1..%d)", size, 1<<26))
	}
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return jsbytes.ArrayBuffer(i.rt, b)
}
