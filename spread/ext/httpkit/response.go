package httpkit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/tidwall/gjson"
	"golang.org/x/crypto/ocsp"
)

var responseKeys = []string{"status", "status_text", "proto", "headers", "body", "timings", "remote_ip",
	"remote_port", "url", "error", "error_code", "tls_version", "tls_cipher_suite", "ocsp", "pod", "request", "json"}

type responseObject struct {
	rt     *goja.Runtime
	r      *Result
	extras []ResponseExtra       // module-specific properties, after k6's
	more   ResponseExtras        // more module-specific properties (nil: none)
	cache  map[string]goja.Value // built or script-set properties
	gone   map[string]bool       // deleted by the script
	extra  []string              // keys the script added, in order
}

// NewResponseObject builds the JS response object of k6's shape: status,
// status_text, proto, headers, body, json(selector), timings, remote_ip,
// remote_port, url, error, error_code, tls_version, request and pod.
//
// Properties are built on first read (a goja DynamicObject) rather than up
// front: most scripts read one or two of them, and building all of them
// was ~85 allocations per response, a fifth of k6/http's CPU per request.
// Objects keep their identity across reads; scripts may set and delete
// properties as on a plain object.
func NewResponseObject(rt *goja.Runtime, r *Result) *goja.Object {
	return rt.NewDynamicObject(r.objectState(responseObject{rt: rt, r: r}))
}

// ResponseExtra is a module's own response property (k6/x/http3's
// `connection`), built by Build on first read like k6's properties, so a
// script that never reads it does not pay for it.
type ResponseExtra struct {
	Key   string
	Build func() goja.Value
}

// NewResponseObjectWith is NewResponseObject plus extra properties, listed
// after k6's in key order.
func NewResponseObjectWith(rt *goja.Runtime, r *Result, extras ...ResponseExtra) *goja.Object {
	return rt.NewDynamicObject(r.objectState(responseObject{rt: rt, r: r, extras: extras}))
}

// ResponseExtras is a module's own response properties, shared by all the
// responses of a VU: unlike ResponseExtra it costs no allocation per
// response, which matters on a load generator's hot path. BuildExtra runs
// on first read of one of ExtraKeys and returns nil for unknown keys.
type ResponseExtras interface {
	ExtraKeys() []string
	BuildExtra(key string, r *Result) goja.Value
}

// NewResponseObjectExtras is NewResponseObject plus the properties of x,
// listed after k6's in key order.
func NewResponseObjectExtras(rt *goja.Runtime, r *Result, x ResponseExtras) *goja.Object {
	return rt.NewDynamicObject(r.objectState(responseObject{rt: rt, r: r, more: x}))
}

// objectState places the response object's state in r itself, saving an
// allocation per response on a load generator's hot path; a second object
// made from the same Result gets state of its own.
func (r *Result) objectState(o responseObject) *responseObject {
	if r.obj.rt == nil {
		r.obj = o
		return &r.obj
	}
	own := new(responseObject) // not &o: o would then escape on every call
	*own = o
	return own
}

func (o *responseObject) Get(key string) goja.Value {
	if v, ok := o.cache[key]; ok {
		return v
	}
	if o.gone[key] {
		return nil
	}
	rt, r := o.rt, o.r
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var v goja.Value
	switch key {
	case "status":
		return rt.ToValue(r.Status)
	case "status_text":
		return rt.ToValue(r.StatusText)
	case "proto":
		return rt.ToValue(r.Proto)
	case "remote_ip":
		return rt.ToValue(r.RemoteIP)
	case "remote_port":
		return rt.ToValue(r.RemotePort)
	case "url":
		return rt.ToValue(r.URL)
	case "error":
		return rt.ToValue(r.Error)
	case "error_code":
		return rt.ToValue(r.ErrorCode)
	case "tls_version":
		return rt.ToValue(r.TLSVersion)
	case "tls_cipher_suite":
		if r.TLSState == nil {
			return rt.ToValue("")
		}
		return rt.ToValue(tls.CipherSuiteName(r.TLSState.CipherSuite))
	case "ocsp":
		v = rt.ToValue(ocspInfo(r.TLSState))
	case "pod":
		return rt.ToValue(r.Pod)
	case "headers":
		v = headerObject(rt, r.Header())
	case "body":
		switch r.BodyType {
		case "binary":
			v = rt.ToValue(rt.NewArrayBuffer(r.Body))
		case "none":
			v = goja.Null()
		default:
			v = rt.ToValue(string(r.Body))
		}
	case "timings":
		t := rt.NewObject()
		_ = t.Set("duration", ms(r.Timings.Duration()))
		_ = t.Set("blocked", ms(r.Timings.Blocked))
		_ = t.Set("connecting", ms(r.Timings.Connecting))
		_ = t.Set("tls_handshaking", ms(r.Timings.TLSHandshaking))
		_ = t.Set("sending", ms(r.Timings.Sending))
		_ = t.Set("waiting", ms(r.Timings.Waiting))
		_ = t.Set("receiving", ms(r.Timings.Receiving))
		v = t
	case "request":
		q := rt.NewObject()
		_ = q.Set("method", r.Request.Method)
		_ = q.Set("url", r.Request.URL)
		_ = q.Set("headers", headerObject(rt, r.Request.Headers))
		_ = q.Set("body", r.Request.Body)
		v = q
	case "json":
		body := r.Body
		v = rt.ToValue(func(call goja.FunctionCall) goja.Value {
			if sel := call.Argument(0); !goja.IsUndefined(sel) && !goja.IsNull(sel) {
				// k6's selectors are gjson paths ("items.#.id",
				// "items.#(id==2).name"): gjson evaluates them on the
				// raw body, and only the selected part is decoded.
				if !gjson.ValidBytes(body) {
					var doc any
					err := json.Unmarshal(body, &doc)
					panic(syntaxError(rt, "response body is not JSON: "+fmt.Sprint(err)))
				}
				res := gjson.GetBytes(body, sel.String())
				if !res.Exists() {
					return goja.Undefined()
				}
				var x any
				if err := json.Unmarshal([]byte(res.Raw), &x); err != nil {
					return rt.ToValue(res.Value())
				}
				return rt.ToValue(x)
			}
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				panic(syntaxError(rt, "response body is not JSON: "+err.Error()))
			}
			return rt.ToValue(doc)
		})
	default:
		x := o.extraOf(key)
		if x != nil {
			v = x.Build()
		} else if o.more != nil {
			v = o.more.BuildExtra(key, r)
		}
		if v == nil {
			return nil
		}
	}
	if o.cache == nil {
		o.cache = make(map[string]goja.Value, 4)
	}
	o.cache[key] = v // objects keep their identity across reads
	return v
}

func (o *responseObject) Set(key string, val goja.Value) bool {
	if o.cache == nil {
		o.cache = make(map[string]goja.Value, 4)
	}
	if _, known := o.cache[key]; !known && !isResponseKey(key) && o.extraOf(key) == nil && !o.isMore(key) {
		o.extra = append(o.extra, key)
	}
	o.cache[key] = val
	delete(o.gone, key)
	return true
}

func (o *responseObject) Has(key string) bool { return o.Get(key) != nil }

func (o *responseObject) Delete(key string) bool {
	delete(o.cache, key)
	for i, k := range o.extra {
		if k == key {
			o.extra = append(o.extra[:i], o.extra[i+1:]...)
			break
		}
	}
	if o.gone == nil {
		o.gone = map[string]bool{}
	}
	o.gone[key] = true
	return true
}

func (o *responseObject) Keys() []string {
	keys := make([]string, 0, len(responseKeys)+len(o.extras)+len(o.cache))
	for _, k := range responseKeys {
		if !o.gone[k] {
			keys = append(keys, k)
		}
	}
	for _, x := range o.extras {
		if !o.gone[x.Key] {
			keys = append(keys, x.Key)
		}
	}
	if o.more != nil {
		for _, k := range o.more.ExtraKeys() {
			if !o.gone[k] {
				keys = append(keys, k)
			}
		}
	}
	return append(keys, o.extra...)
}

// isMore reports whether key is one of the ResponseExtras' keys.
func (o *responseObject) isMore(key string) bool {
	if o.more == nil {
		return false
	}
	for _, k := range o.more.ExtraKeys() {
		if k == key {
			return true
		}
	}
	return false
}

// extraOf returns the module property called key, or nil.
func (o *responseObject) extraOf(key string) *ResponseExtra {
	for i := range o.extras {
		if o.extras[i].Key == key {
			return &o.extras[i]
		}
	}
	return nil
}

func isResponseKey(k string) bool {
	for _, b := range responseKeys {
		if b == k {
			return true
		}
	}
	return false
}

func headerObject(rt *goja.Runtime, h http.Header) *goja.Object {
	o := rt.NewObject()
	for k, v := range h {
		if len(v) == 1 {
			_ = o.Set(http.CanonicalHeaderKey(k), v[0])
			continue
		}
		_ = o.Set(http.CanonicalHeaderKey(k), strings.Join(v, ", "))
	}
	return o
}

// syntaxError is the exception res.json() throws for a body that is not JSON:
// a SyntaxError, as JSON.parse throws, rather than goja's "GoError".
func syntaxError(rt *goja.Runtime, msg string) goja.Value {
	ctor, ok := goja.AssertConstructor(rt.Get("SyntaxError"))
	if !ok {
		return rt.NewGoError(errors.New(msg))
	}
	e, err := ctor(nil, rt.ToValue(msg))
	if err != nil {
		return rt.NewGoError(errors.New(msg))
	}
	return e
}

// ocspInfo is k6's res.ocsp from the server's stapled OCSP response:
// status "good", "revoked" or "unknown" (no staple, or one that does not
// parse), times as Unix milliseconds (0 when absent) and, when revoked,
// the reason in k6's spelling.
func ocspInfo(st *tls.ConnectionState) map[string]any {
	out := map[string]any{"status": "unknown", "produced_at": int64(0), "this_update": int64(0),
		"next_update": int64(0), "revoked_at": int64(0), "revocation_reason": ""}
	if st == nil || len(st.OCSPResponse) == 0 || len(st.PeerCertificates) == 0 {
		return out
	}
	var issuer *x509.Certificate
	if len(st.PeerCertificates) > 1 {
		issuer = st.PeerCertificates[1]
	}
	resp, err := ocsp.ParseResponseForCert(st.OCSPResponse, st.PeerCertificates[0], issuer)
	if err != nil {
		return out
	}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	out["produced_at"], out["this_update"], out["next_update"] = ms(resp.ProducedAt), ms(resp.ThisUpdate), ms(resp.NextUpdate)
	switch resp.Status {
	case ocsp.Good:
		out["status"] = "good"
	case ocsp.Revoked:
		out["status"] = "revoked"
		out["revoked_at"] = ms(resp.RevokedAt)
		out["revocation_reason"] = revocationReasons[resp.RevocationReason]
	}
	return out
}

// revocationReasons are RFC 5280's CRL reason codes in k6's spelling.
var revocationReasons = map[int]string{
	ocsp.Unspecified: "unspecified", ocsp.KeyCompromise: "key_compromise", ocsp.CACompromise: "ca_compromise",
	ocsp.AffiliationChanged: "affiliation_changed", ocsp.Superseded: "superseded",
	ocsp.CessationOfOperation: "cessation_of_operation", ocsp.CertificateHold: "certificate_hold",
	ocsp.RemoveFromCRL: "remove_from_crl", ocsp.PrivilegeWithdrawn: "privilege_withdrawn", ocsp.AACompromise: "aa_compromise",
}
