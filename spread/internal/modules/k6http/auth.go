package k6http

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/url"
	"strings"

	"github.com/Azure/go-ntlmssp"
	"github.com/icholy/digest"

	"spread.dev/spread/ext/httpkit"
)

// params.auth as k6 has it: "basic" (the default for user:pass@ in the
// URL), "digest" (RFC 7616, computed by github.com/icholy/digest) and
// "ntlm" (NTLMv2 messages by github.com/Azure/go-ntlmssp). Digest and NTLM
// send the first request without credentials and answer the server's 401
// challenge; the challenge response is reported as its own request, counted
// as expected as k6 does.

// authState is one request's progress through a challenge.
type authState struct {
	header string // Authorization of the next attempt
	tries  int
}

// maxAuthRounds bounds challenge rounds: digest needs one, NTLM two.
const maxAuthRounds = 2

// challenge answers a 401 for digest or NTLM auth. It reports whether the
// request should be sent again with auth.header.
func (a *authState) challenge(rq *request, res *httpkit.Result) bool {
	if rq.user == nil || a.tries >= maxAuthRounds {
		return false
	}
	user := rq.user.Username()
	pass, _ := rq.user.Password()
	switch rq.auth {
	case "digest":
		if a.tries > 0 {
			return false // credentials refused: the 401 is the answer
		}
		chal, err := digest.FindChallenge(res.Header())
		if err != nil {
			return false
		}
		u := rq.url
		if res.URL != rq.rawURL {
			if parsed, err := url.Parse(res.URL); err == nil {
				u = parsed
			}
		}
		body := rq.body
		cred, err := digest.Digest(chal, digest.Options{
			Method: res.Method, URI: u.RequestURI(), Username: user, Password: pass, Count: 1,
			GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		})
		if err != nil {
			return false
		}
		a.header, a.tries = cred.String(), a.tries+1
		return true
	case "ntlm":
		token, offered := ntlmToken(res.Header().Values("Www-Authenticate"))
		if !offered {
			return false
		}
		if token == nil {
			if a.tries > 0 {
				return false
			}
			_, domain, _ := ntlmssp.GetDomain(user)
			msg, err := ntlmssp.NewNegotiateMessage(domain, "")
			if err != nil {
				return false
			}
			a.header, a.tries = "NTLM "+base64.StdEncoding.EncodeToString(msg), a.tries+1
			return true
		}
		name, _, domainNeeded := ntlmssp.GetDomain(user)
		msg, err := ntlmssp.ProcessChallenge(token, name, pass, domainNeeded)
		if err != nil {
			return false
		}
		a.header, a.tries = "NTLM "+base64.StdEncoding.EncodeToString(msg), maxAuthRounds
		return true
	}
	return false
}

// ntlmToken finds an NTLM challenge: offered is true for "NTLM" with or
// without a token.
func ntlmToken(values []string) (token []byte, offered bool) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			scheme, rest, _ := strings.Cut(part, " ")
			if !strings.EqualFold(scheme, "NTLM") {
				continue
			}
			rest = strings.TrimSpace(rest)
			if rest == "" {
				return nil, true
			}
			if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
				return b, true
			}
			return nil, false
		}
	}
	return nil, false
}
