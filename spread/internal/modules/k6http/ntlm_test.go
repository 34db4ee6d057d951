package k6http

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is built on MD4; test server only
)

// ntlmServer is an NTLM (NTLMv2) server written here from MS-NLMP, because
// no independent NTLM server is packaged for Linux (IIS is Windows only).
// It checks the client's NTProofStr against the password, so a client
// that got the protocol wrong is refused. State is per connection, as
// NTLM authenticates connections.
type ntlmServer struct {
	user, domain, pass string
	mu                 sync.Mutex
	challenges         map[string][]byte // remote addr -> server challenge
	authed             map[string]bool
}

func utf16le(s string) []byte {
	var b bytes.Buffer
	for _, r := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, binary.LittleEndian, r)
	}
	return b.Bytes()
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// field reads an NTLM varField (len, maxlen, offset) at off.
func field(msg []byte, off int) []byte {
	if len(msg) < off+8 {
		return nil
	}
	l := int(binary.LittleEndian.Uint16(msg[off:]))
	o := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if o+l > len(msg) {
		return nil
	}
	return msg[o : o+l]
}

func (s *ntlmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authed[r.RemoteAddr] {
		_, _ = fmt.Fprint(w, "ntlm ok")
		return
	}
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "NTLM ")
	msg, _ := base64.StdEncoding.DecodeString(token)
	if !found || len(msg) < 12 || string(msg[:8]) != "NTLMSSP\x00" {
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch binary.LittleEndian.Uint32(msg[8:]) {
	case 1: // NEGOTIATE: answer with a CHALLENGE
		chal := make([]byte, 8)
		_, _ = rand.Read(chal)
		s.challenges[r.RemoteAddr] = chal
		target := utf16le(s.domain)
		var info bytes.Buffer
		_ = binary.Write(&info, binary.LittleEndian, uint16(2)) // MsvAvNbDomainName
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(target)))
		info.Write(target)
		info.Write([]byte{0, 0, 0, 0}) // MsvAvEOL
		const flags = 0x1 | 0x4 | 0x200 | 0x80000 | 0x800000
		out := make([]byte, 48)
		copy(out, "NTLMSSP\x00")
		binary.LittleEndian.PutUint32(out[8:], 2)
		binary.LittleEndian.PutUint16(out[12:], uint16(len(target)))
		binary.LittleEndian.PutUint16(out[14:], uint16(len(target)))
		binary.LittleEndian.PutUint32(out[16:], 48)
		binary.LittleEndian.PutUint32(out[20:], flags)
		copy(out[24:], chal)
		binary.LittleEndian.PutUint16(out[40:], uint16(info.Len()))
		binary.LittleEndian.PutUint16(out[42:], uint16(info.Len()))
		binary.LittleEndian.PutUint32(out[44:], uint32(48+len(target)))
		out = append(append(out, target...), info.Bytes()...)
		w.Header().Set("WWW-Authenticate", "NTLM "+base64.StdEncoding.EncodeToString(out))
		w.WriteHeader(http.StatusUnauthorized)
	case 3: // AUTHENTICATE: check NTProofStr = HMAC_MD5(NTOWFv2, challenge || blob)
		chal := s.challenges[r.RemoteAddr]
		nt := field(msg, 20)
		user := field(msg, 36)
		domain := field(msg, 28)
		if chal == nil || len(nt) < 24 || !bytes.Equal(user, utf16le(s.user)) {
			http.Error(w, "bad authenticate message", http.StatusUnauthorized)
			return
		}
		h := md4.New()
		h.Write(utf16le(s.pass))
		ntowf := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(s.user)), domain)
		if !hmac.Equal(nt[:16], hmacMD5(ntowf, chal, nt[16:])) {
			http.Error(w, "wrong password", http.StatusUnauthorized)
			return
		}
		s.authed[r.RemoteAddr] = true
		_, _ = fmt.Fprint(w, "ntlm ok")
	default:
		http.Error(w, "unexpected NTLM message", http.StatusBadRequest)
	}
}

func TestNTLMAuth(t *testing.T) {
	ns := &ntlmServer{user: "alice", domain: "CORP", pass: "s3cret", challenges: map[string][]byte{}, authed: map[string]bool{}}
	srv := httptest.NewServer(ns)
	t.Cleanup(srv.Close)
	good := strings.Replace(srv.URL, "http://", "http://CORP%5Calice:s3cret@", 1)
	bad := strings.Replace(srv.URL, "http://", "http://CORP%5Calice:wrong@", 1)
	vu := newVU(t, nil)
	checkJS(t, vu, fmt.Sprintf(`var ok = http.get(%q, {auth: 'ntlm'});
		return {ntlm: ok.status === 200 && ok.body === 'ntlm ok'};`, good+"/"))
	vu2 := newVU(t, nil) // its own connection: NTLM authenticates connections
	checkJS(t, vu2, fmt.Sprintf(`var no = http.get(%q, {auth: 'ntlm'});
		return {wrongPassword: no.status === 401};`, bad+"/"))
	// Good: the first 401, the challenge, the answer.
	if n := len(vu.SamplesOf("http_reqs")); n < 3 {
		t.Fatalf("%d requests, want the NTLM handshake's", n)
	}
}
