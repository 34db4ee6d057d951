package k6http

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"sort"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/dop251/goja"
	"github.com/klauspost/compress/zstd"
)

// fileData is http.file(data, filename, contentType): one file part of a
// multipart/form-data body.
type fileData struct {
	data        []byte
	filename    string
	contentType string
}

// fileSymbol marks a JS object made by http.file with its Go value.
var fileSymbol = goja.NewSymbol("spread.file")

// file is http.file(data, [filename], [contentType]). The object it returns
// has k6's data, filename and content_type properties.
func (in *instance) file(call goja.FunctionCall) goja.Value {
	rt := in.vu.Runtime()
	f := &fileData{contentType: "application/octet-stream"}
	switch d := call.Argument(0).Export().(type) {
	case goja.ArrayBuffer:
		f.data = append([]byte(nil), d.Bytes()...)
	case []byte:
		f.data = append([]byte(nil), d...)
	case nil:
		in.throw(fmt.Errorf("http.file: the data is required (a string or an ArrayBuffer)"))
	default:
		f.data = []byte(call.Argument(0).String())
	}
	if v := call.Argument(1); !goja.IsUndefined(v) && !goja.IsNull(v) {
		f.filename = v.String()
	}
	if v := call.Argument(2); !goja.IsUndefined(v) && !goja.IsNull(v) {
		f.contentType = v.String()
	}
	o := rt.NewObject()
	_ = o.DefineDataPropertySymbol(fileSymbol, rt.ToValue(f), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	_ = o.Set("data", call.Argument(0))
	_ = o.Set("filename", f.filename)
	_ = o.Set("content_type", f.contentType)
	return o
}

func fileOf(v goja.Value) (*fileData, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	s := o.GetSymbol(fileSymbol)
	if s == nil {
		return nil, false
	}
	f, ok := s.Export().(*fileData)
	return f, ok
}

// objectBody encodes an object body: multipart/form-data when a value is
// an http.file(), else application/x-www-form-urlencoded. Array values
// become repeated keys, as k6 sends them.
func (in *instance) objectBody(rq *request, o *goja.Object, _ map[string]any) error {
	keys := o.Keys()
	multi := false
	for _, k := range keys {
		if _, ok := fileOf(o.Get(k)); ok {
			multi = true
			break
		}
	}
	rq.ownHeader()
	if !multi {
		form := url.Values{}
		for _, k := range keys {
			for _, s := range formValues(o.Get(k)) {
				form.Add(k, s)
			}
		}
		rq.body = []byte(form.Encode()) // sorted by key, as url.Values does
		if _, set := rq.header["Content-Type"]; !set {
			rq.header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		}
		return nil
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted) // a stable part order whatever the engine's key order
	for _, k := range sorted {
		v := o.Get(k)
		if f, ok := fileOf(v); ok {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscaper.Replace(k), quoteEscaper.Replace(f.filename)))
			h.Set("Content-Type", f.contentType)
			w, err := mw.CreatePart(h)
			if err != nil {
				return fmt.Errorf("multipart body: %w", err)
			}
			_, _ = w.Write(f.data)
			continue
		}
		for _, s := range formValues(v) {
			if err := mw.WriteField(k, s); err != nil {
				return fmt.Errorf("multipart body: %w", err)
			}
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("multipart body: %w", err)
	}
	rq.body = buf.Bytes()
	if ct := rq.header.Get("Content-Type"); !strings.Contains(ct, "boundary=") {
		rq.header["Content-Type"] = []string{mw.FormDataContentType()}
	}
	return nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// formValues is a form field's values: each element of an array, or the
// value itself.
func formValues(v goja.Value) []string {
	if v == nil || goja.IsUndefined(v) {
		return nil
	}
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
		n := int(o.Get("length").ToInteger())
		out := make([]string, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, o.Get(fmt.Sprint(i)).String())
		}
		return out
	}
	return []string{v.String()}
}

// parseCompression reads params.compression: one of gzip, deflate, br,
// zstd, or several separated by commas, applied in that order.
func parseCompression(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case "":
			continue
		case "gzip", "deflate", "br", "zstd":
			out = append(out, p)
		default:
			return nil, fmt.Errorf("params.compression: unknown algorithm %q (want gzip, deflate, br, zstd, or several separated by commas)", p)
		}
	}
	return out, nil
}

// compressBody compresses the body with each algorithm in turn and sets
// Content-Encoding to match (unless the script set it).
func (rq *request) compressBody() error {
	data := rq.body
	for _, alg := range rq.compression {
		var buf bytes.Buffer
		var w io.WriteCloser
		switch alg {
		case "gzip":
			w = gzip.NewWriter(&buf)
		case "deflate":
			w = zlib.NewWriter(&buf) // HTTP's deflate is the zlib format
		case "br":
			w = brotli.NewWriter(&buf)
		case "zstd":
			zw, err := zstd.NewWriter(&buf)
			if err != nil {
				return fmt.Errorf("params.compression zstd: %w", err)
			}
			w = zw
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("params.compression %s: %w", alg, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("params.compression %s: %w", alg, err)
		}
		data = buf.Bytes()
	}
	rq.body = data
	rq.ownHeader()
	if _, set := rq.header["Content-Encoding"]; !set {
		rq.header["Content-Encoding"] = []string{strings.Join(rq.compression, ", ")}
	}
	return nil
}

// decompress decodes a response body by its Content-Encoding, the last
// coding applied first undone ("gzip, br": brotli, then gzip). Unknown
// codings leave the body as received, as k6 does.
func decompress(encoding string, data []byte) ([]byte, error) {
	if encoding == "" {
		return data, nil
	}
	codings := strings.Split(encoding, ",")
	for i := len(codings) - 1; i >= 0; i-- {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		var r io.Reader
		var err error
		switch c {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(bytes.NewReader(data))
		case "deflate":
			// HTTP's deflate is zlib-wrapped; some servers send it raw.
			if r, err = zlib.NewReader(bytes.NewReader(data)); err != nil {
				r, err = flate.NewReader(bytes.NewReader(data)), nil
			}
		case "br":
			r = brotli.NewReader(bytes.NewReader(data))
		case "zstd":
			var zr *zstd.Decoder
			zr, err = zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
			if err == nil {
				defer zr.Close()
				r = zr
			}
		default:
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errDecompress, c, err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errDecompress, c, err)
		}
		data = out
	}
	return data, nil
}
