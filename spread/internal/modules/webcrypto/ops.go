package webcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"math/big"
	"slices"
)

func digest(alg string, data []byte) ([]byte, error) {
	h, ok := hashes[alg]
	if !ok {
		return nil, notSupported("digest algorithm %q (want SHA-1, SHA-256, SHA-384 or SHA-512)", alg)
	}
	d := h.New()
	d.Write(data)
	return d.Sum(nil), nil
}

// use checks that k may do usage with algorithm p.
func use(p *params, k *key, usage string) error {
	if p.name != k.alg {
		return invalidAccess("the key is for %s, not %s", k.alg, p.name)
	}
	if !slices.Contains(k.usages, usage) {
		return invalidAccess("the key's usages %v do not include %q", k.usages, usage)
	}
	return nil
}

func sign(p *params, k *key, data []byte) ([]byte, error) {
	if err := use(p, k, "sign"); err != nil {
		return nil, err
	}
	switch p.name {
	case "HMAC":
		m := hmac.New(hashes[k.hash].New, k.secret)
		m.Write(data)
		return m.Sum(nil), nil
	case "ECDSA":
		h, ok := hashes[p.hash]
		if !ok {
			return nil, typeErr("ECDSA needs a hash")
		}
		d := h.New()
		d.Write(data)
		r, s, err := ecdsa.Sign(rand.Reader, k.ecPriv, d.Sum(nil))
		if err != nil {
			return nil, operation("%v", err)
		}
		// WebCrypto's ECDSA signature is r || s, each the curve's size
		// (IEEE P1363), not ASN.1 DER.
		n := curveBytes(k.ecPriv.Curve)
		return append(pad(r.Bytes(), n), pad(s.Bytes(), n)...), nil
	case "RSASSA-PKCS1-v1_5":
		h := hashes[k.hash]
		d := h.New()
		d.Write(data)
		sig, err := rsa.SignPKCS1v15(nil, k.rsaPriv, h, d.Sum(nil))
		if err != nil {
			return nil, operation("%v", err)
		}
		return sig, nil
	case "RSA-PSS":
		h := hashes[k.hash]
		d := h.New()
		d.Write(data)
		sig, err := rsa.SignPSS(rand.Reader, k.rsaPriv, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: p.saltLength, Hash: h})
		if err != nil {
			return nil, operation("%v", err)
		}
		return sig, nil
	case "Ed25519":
		return ed25519.Sign(k.edPriv, data), nil
	}
	return nil, notSupported("sign with %s", p.name)
}

func verify(p *params, k *key, sig, data []byte) (bool, error) {
	if err := use(p, k, "verify"); err != nil {
		return false, err
	}
	switch p.name {
	case "HMAC":
		m := hmac.New(hashes[k.hash].New, k.secret)
		m.Write(data)
		return subtle.ConstantTimeCompare(m.Sum(nil), sig) == 1, nil
	case "ECDSA":
		h, ok := hashes[p.hash]
		if !ok {
			return false, typeErr("ECDSA needs a hash")
		}
		n := curveBytes(k.ecPub.Curve)
		if len(sig) != 2*n {
			return false, nil
		}
		d := h.New()
		d.Write(data)
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k.ecPub, d.Sum(nil), r, s), nil
	case "RSASSA-PKCS1-v1_5":
		h := hashes[k.hash]
		d := h.New()
		d.Write(data)
		return rsa.VerifyPKCS1v15(k.rsaPub, h, d.Sum(nil), sig) == nil, nil
	case "RSA-PSS":
		h := hashes[k.hash]
		d := h.New()
		d.Write(data)
		return rsa.VerifyPSS(k.rsaPub, h, d.Sum(nil), sig, &rsa.PSSOptions{SaltLength: p.saltLength, Hash: h}) == nil, nil
	case "Ed25519":
		return ed25519.Verify(k.edPub, data, sig), nil
	}
	return false, notSupported("verify with %s", p.name)
}

func encrypt(p *params, k *key, data []byte) ([]byte, error) {
	if err := use(p, k, "encrypt"); err != nil {
		return nil, err
	}
	return crypt(p, k, data, true)
}

func decrypt(p *params, k *key, data []byte) ([]byte, error) {
	if err := use(p, k, "decrypt"); err != nil {
		return nil, err
	}
	return crypt(p, k, data, false)
}

func crypt(p *params, k *key, data []byte, enc bool) ([]byte, error) {
	switch p.name {
	case "AES-CBC":
		if len(p.iv) != aes.BlockSize {
			return nil, operation("AES-CBC iv must be 16 bytes, not %d", len(p.iv))
		}
		b, _ := aes.NewCipher(k.secret)
		if enc {
			// PKCS#7 padding, as WebCrypto's AES-CBC defines.
			n := aes.BlockSize - len(data)%aes.BlockSize
			buf := append(append([]byte(nil), data...), slices.Repeat([]byte{byte(n)}, n)...)
			cipher.NewCBCEncrypter(b, p.iv).CryptBlocks(buf, buf)
			return buf, nil
		}
		if len(data) == 0 || len(data)%aes.BlockSize != 0 {
			return nil, operation("AES-CBC ciphertext length %d is not a positive multiple of 16", len(data))
		}
		buf := append([]byte(nil), data...)
		cipher.NewCBCDecrypter(b, p.iv).CryptBlocks(buf, buf)
		n := int(buf[len(buf)-1])
		if n == 0 || n > aes.BlockSize {
			return nil, operation("AES-CBC: bad padding")
		}
		for _, c := range buf[len(buf)-n:] {
			if int(c) != n {
				return nil, operation("AES-CBC: bad padding")
			}
		}
		return buf[:len(buf)-n], nil
	case "AES-CTR":
		return ctr(k.secret, p.counter, p.length, data)
	case "AES-GCM":
		tag := 128
		if p.tagLength != 0 {
			tag = p.tagLength
		}
		switch tag {
		case 96, 104, 112, 120, 128:
		case 32, 64:
			return nil, notSupported("AES-GCM tagLength %d (Go's GCM takes 96 to 128)", tag)
		default:
			return nil, operation("AES-GCM tagLength %d is not one of 32, 64, 96, 104, 112, 120, 128", tag)
		}
		if len(p.iv) == 0 {
			return nil, operation("AES-GCM needs an iv")
		}
		b, _ := aes.NewCipher(k.secret)
		var g cipher.AEAD
		var err error
		if len(p.iv) == 12 {
			g, err = cipher.NewGCMWithTagSize(b, tag/8)
		} else if tag == 128 {
			g, err = cipher.NewGCMWithNonceSize(b, len(p.iv))
		} else {
			return nil, notSupported("AES-GCM with a %d-byte iv and a %d-bit tag", len(p.iv), tag)
		}
		if err != nil {
			return nil, operation("%v", err)
		}
		if enc {
			return g.Seal(nil, p.iv, data, p.additionalData), nil
		}
		out, err := g.Open(nil, p.iv, data, p.additionalData)
		if err != nil {
			return nil, operation("AES-GCM: %v", err)
		}
		return out, nil
	case "RSA-OAEP":
		h := hashes[k.hash]
		if enc {
			out, err := rsa.EncryptOAEP(h.New(), rand.Reader, k.rsaPub, data, p.label)
			if err != nil {
				return nil, operation("%v", err)
			}
			return out, nil
		}
		out, err := rsa.DecryptOAEP(h.New(), nil, k.rsaPriv, data, p.label)
		if err != nil {
			return nil, operation("RSA-OAEP: %v", err)
		}
		return out, nil
	}
	return nil, notSupported("encrypt/decrypt with %s", p.name)
}

// ctr is AES-CTR with WebCrypto's counter semantics: only the rightmost
// `length` bits of the counter block increment (wrapping within them),
// and a message may not reuse a counter value. Go's cipher.NewCTR
// increments all 128 bits, which differs once the low bits wrap, hence
// this small loop over the block cipher.
func ctr(keyBytes, counter []byte, length int, data []byte) ([]byte, error) {
	if len(counter) != aes.BlockSize {
		return nil, operation("AES-CTR counter must be 16 bytes, not %d", len(counter))
	}
	if length < 1 || length > 128 {
		return nil, operation("AES-CTR length must be 1 to 128 bits, not %d", length)
	}
	blocks := (len(data) + aes.BlockSize - 1) / aes.BlockSize
	if length < 64 && uint64(blocks) > uint64(1)<<length {
		return nil, operation("AES-CTR: %d blocks exceed the 2^%d counter values", blocks, length)
	}
	b, _ := aes.NewCipher(keyBytes)
	full := new(big.Int).SetBytes(counter)
	mod := new(big.Int).Lsh(big.NewInt(1), uint(length))
	high := new(big.Int).Sub(full, new(big.Int).Mod(full, mod)) // the fixed bits
	low := new(big.Int).Mod(full, mod)
	out := make([]byte, len(data))
	ks := make([]byte, aes.BlockSize)
	one := big.NewInt(1)
	for i := 0; i < blocks; i++ {
		blk := pad(new(big.Int).Add(high, low).Bytes(), aes.BlockSize)
		b.Encrypt(ks, blk)
		start, end := i*aes.BlockSize, min((i+1)*aes.BlockSize, len(data))
		for j := start; j < end; j++ {
			out[j] = data[j] ^ ks[j-start]
		}
		low.Add(low, one).Mod(low, mod)
	}
	return out, nil
}

// deriveBits runs ECDH, PBKDF2 or HKDF for subtle.deriveBits (usage
// "deriveBits") or subtle.deriveKey (usage "deriveKey").
func deriveBits(p *params, k *key, length int, hasLength bool, usage string) ([]byte, error) {
	if err := use(p, k, usage); err != nil {
		return nil, err
	}
	switch p.name {
	case "ECDH":
		return ecdhBits(p, k, length, hasLength)
	case "PBKDF2", "HKDF":
		h, ok := hashes[p.hash]
		if !ok {
			return nil, typeErr("%s needs a hash", p.name)
		}
		if !hasLength || length <= 0 || length%8 != 0 {
			return nil, operation("%s length must be a positive multiple of 8 bits, not %d", p.name, length)
		}
		if p.name == "PBKDF2" {
			if !p.hasSalt {
				return nil, typeErr("PBKDF2 needs a salt")
			}
			if p.iterations <= 0 {
				return nil, operation("PBKDF2 iterations must be positive, not %d", p.iterations)
			}
			b, err := pbkdf2.Key(h.New, string(k.secret), p.salt, p.iterations, length/8)
			if err != nil {
				return nil, operation("PBKDF2: %v", err)
			}
			return b, nil
		}
		if !p.hasSalt || !p.hasInfo {
			return nil, typeErr("HKDF needs a salt and an info")
		}
		b, err := hkdf.Key(h.New, k.secret, p.salt, string(p.info), length/8)
		if err != nil {
			return nil, operation("HKDF: %v", err)
		}
		return b, nil
	}
	return nil, notSupported("deriveBits with %s", p.name)
}

// derivedKeyLength is the spec's "get key length" of deriveKey's
// derivedKeyType: AES keys their length, HMAC its length or the hash's
// block size.
func derivedKeyLength(p *params) (int, error) {
	switch p.name {
	case "AES-CBC", "AES-CTR", "AES-GCM", "AES-KW":
		if p.length != 128 && p.length != 192 && p.length != 256 {
			return 0, operation("AES key length must be 128, 192 or 256 bits, not %d", p.length)
		}
		return p.length, nil
	case "HMAC":
		if p.hash == "" {
			return 0, typeErr("HMAC needs a hash")
		}
		if p.hasLength {
			if p.length <= 0 || p.length%8 != 0 {
				return 0, operation("HMAC length %d must be a positive multiple of 8", p.length)
			}
			return p.length, nil
		}
		return hmacDefaultLength(p.hash), nil
	}
	return 0, notSupported("deriveKey cannot make %s keys", p.name)
}

// deriveKey derives derived.length bits from base and imports them raw
// as a key of algorithm derived.
func deriveKey(p *params, base *key, derived *params, extractable bool, usages []string) (*key, error) {
	n, err := derivedKeyLength(derived)
	if err != nil {
		return nil, err
	}
	b, err := deriveBits(p, base, n, true, "deriveKey")
	if err != nil {
		return nil, err
	}
	return importKey("raw", keyData{raw: b}, derived, extractable, usages)
}

// ecdhBits is ECDH: the shared secret's x coordinate, cut to length bits
// (all of it when length is 0 / null).
func ecdhBits(p *params, k *key, length int, hasLength bool) ([]byte, error) {
	pub := p.public
	if pub == nil || pub.ecPub == nil || pub.typ != "public" {
		return nil, invalidAccess("ECDH needs the peer's public key in algorithm.public")
	}
	if pub.alg != "ECDH" || pub.curve != k.curve {
		return nil, invalidAccess("the public key is %s on %s, want ECDH on %s", pub.alg, pub.curve, k.curve)
	}
	priv, err := k.ecPriv.ECDH()
	if err != nil {
		return nil, operation("%v", err)
	}
	peer, err := pub.ecPub.ECDH()
	if err != nil {
		return nil, operation("%v", err)
	}
	secret, err := priv.ECDH(peer)
	if err != nil {
		return nil, operation("%v", err)
	}
	if !hasLength {
		return secret, nil
	}
	if length > len(secret)*8 {
		return nil, operation("length %d exceeds the %d-bit shared secret", length, len(secret)*8)
	}
	out := secret[:(length+7)/8]
	if r := length % 8; r != 0 {
		out[len(out)-1] &= byte(0xff << (8 - r))
	}
	return out, nil
}
