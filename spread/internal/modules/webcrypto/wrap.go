package webcrypto

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
)

// AES Key Wrap (RFC 3394), the AES-KW algorithm of WebCrypto. Written by
// hand because neither Go's standard library nor golang.org/x/crypto has
// it (x/crypto has no keywrap package); it is RFC 3394 section 2.2.1/2.2.2's
// index-based wrap and unwrap with the default IV, on crypto/aes.

var kwIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

func aesKeyWrap(kek, plain []byte) ([]byte, error) {
	if len(plain) < 16 || len(plain)%8 != 0 {
		return nil, operation("AES-KW wraps a multiple of 8 bytes, at least 16, not %d", len(plain))
	}
	c, err := aes.NewCipher(kek)
	if err != nil {
		return nil, operation("AES-KW: %v", err)
	}
	n := len(plain) / 8
	out := make([]byte, 8+len(plain))
	copy(out[:8], kwIV[:])
	copy(out[8:], plain)
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], out[:8])
			copy(b[8:], out[8*i:8*i+8])
			c.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:8*i+8], b[8:])
		}
	}
	return out, nil
}

func aesKeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, operation("AES-KW unwraps a multiple of 8 bytes, at least 24, not %d", len(wrapped))
	}
	c, err := aes.NewCipher(kek)
	if err != nil {
		return nil, operation("AES-KW: %v", err)
	}
	n := len(wrapped)/8 - 1
	a := make([]byte, 8)
	copy(a, wrapped[:8])
	r := make([]byte, 8*n)
	copy(r, wrapped[8:])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a)^t)
			copy(b[8:], r[8*(i-1):8*i])
			c.Decrypt(b[:], b[:])
			copy(a, b[:8])
			copy(r[8*(i-1):8*i], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a, kwIV[:]) != 1 {
		return nil, operation("AES-KW: integrity check failed (wrong key or corrupted data)")
	}
	return r, nil
}

// wrapKey exports k in format and encrypts it with wrapping (usage
// "wrapKey"): AES-KW, or any encrypt algorithm the wrapping key allows.
func wrapKey(format string, k, wrapping *key, p *params) ([]byte, error) {
	if err := use(p, wrapping, "wrapKey"); err != nil {
		return nil, err
	}
	b, m, err := exportKey(format, k)
	if err != nil {
		return nil, err
	}
	if m != nil {
		if b, err = json.Marshal(m); err != nil {
			return nil, operation("wrapKey: %v", err)
		}
	}
	if p.name == "AES-KW" {
		return aesKeyWrap(wrapping.secret, b)
	}
	return crypt(p, wrapping, b, true)
}

// unwrapKey decrypts wrapped with unwrapping (usage "unwrapKey") and
// imports the result in format as a key of algorithm target.
func unwrapKey(format string, wrapped []byte, unwrapping *key, p, target *params, extractable bool, usages []string) (*key, error) {
	if err := use(p, unwrapping, "unwrapKey"); err != nil {
		return nil, err
	}
	var b []byte
	var err error
	if p.name == "AES-KW" {
		b, err = aesKeyUnwrap(unwrapping.secret, wrapped)
	} else {
		b, err = crypt(p, unwrapping, wrapped, false)
	}
	if err != nil {
		return nil, err
	}
	var kd keyData
	if format == "jwk" {
		if err := json.Unmarshal(b, &kd.jwk); err != nil {
			return nil, dataErr("unwrapKey: the unwrapped data is not a JSON Web Key: %v", err)
		}
	} else {
		kd.raw = b
	}
	return importKey(format, kd, target, extractable, usages)
}
