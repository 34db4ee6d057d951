package js

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/evanw/esbuild/pkg/api"
)

// RemoteLoader fetches the script's remote modules (import from
// 'https://...') at compile time, so they are bundled with the script
// like local ones: every VU runs the same code and none fetches anything.
//
// A module is fetched over HTTPS with certificates verified (extra CAs
// from the PEM file in SPREAD_CA_CERT) and kept in an on-disk cache by
// content; when the network cannot be reached, the cached copy of the
// same URL is used, so a second run works offline. An archive run
// (Archive set) reads modules only from the archive.
type RemoteLoader struct {
	Client   *http.Client
	CacheDir string // "" for no cache
	// Archive, when set, is the only source: URL → content.
	Archive map[string][]byte
	// Warn reports a fallback to the cache; nil for silence.
	Warn func(msg string)

	mu      sync.Mutex
	fetched map[string][]byte // by URL (final and requested), for archives
}

// NewRemoteLoader returns a loader with spread's defaults: the system's
// CAs plus SPREAD_CA_CERT, and the cache in SPREAD_CACHE_DIR or the
// user's cache folder.
func NewRemoteLoader() (*RemoteLoader, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if f := os.Getenv("SPREAD_CA_CERT"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("SPREAD_CA_CERT: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SPREAD_CA_CERT: %s holds no PEM certificate", f)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	dir := os.Getenv("SPREAD_CACHE_DIR")
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "spread")
		}
	}
	if dir != "" {
		dir = filepath.Join(dir, "modules")
	}
	return &RemoteLoader{Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, CacheDir: dir}, nil
}

// Fetched returns every remote module fetched so far, by URL.
func (l *RemoteLoader) Fetched() map[string][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]byte, len(l.fetched))
	for k, v := range l.fetched {
		out[k] = v
	}
	return out
}

func (l *RemoteLoader) keep(u string, b []byte) {
	l.mu.Lock()
	if l.fetched == nil {
		l.fetched = map[string][]byte{}
	}
	l.fetched[u] = b
	l.mu.Unlock()
}

// Fetch returns the module at u and the URL it was served from (after
// redirects: relative imports inside it resolve against that).
func (l *RemoteLoader) Fetch(ctx context.Context, u string) ([]byte, string, error) {
	if l.Archive != nil {
		b, ok := l.Archive[u]
		if !ok {
			return nil, "", fmt.Errorf("%s is not in the archive", u)
		}
		l.keep(u, b)
		return b, u, nil
	}
	b, final, err := l.get(ctx, u)
	if err == nil {
		l.store(u, final, b)
		l.keep(u, b)
		if final != u {
			l.keep(final, b)
		}
		return b, final, nil
	}
	var ne *netError
	if errors.As(err, &ne) {
		if c, final, ok := l.cached(u); ok {
			if l.Warn != nil {
				l.Warn(fmt.Sprintf("%v; using the cached copy", err))
			}
			l.keep(u, c)
			return c, final, nil
		}
		return nil, "", fmt.Errorf("%w (and no cached copy)", err)
	}
	return nil, "", err
}

// netError is a failure to reach the server at all (DNS, connect,
// timeout): the one case where the cache stands in. A TLS or HTTP error
// is reported as it is.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

func (l *RemoteLoader) get(ctx context.Context, u string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("remote module %s: %w", u, err)
	}
	req.Header.Set("User-Agent", "spread (remote module loader)")
	resp, err := l.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		var cerr *tls.CertificateVerificationError
		var herr x509.HostnameError
		var aerr x509.UnknownAuthorityError
		switch {
		case errors.As(err, &cerr), errors.As(err, &herr), errors.As(err, &aerr):
			return nil, "", fmt.Errorf("remote module %s: TLS: %v (SPREAD_CA_CERT names a PEM file of extra CAs to trust)", u, unwrapURL(err))
		case errors.As(err, &uerr) && isNetErr(uerr.Err):
			return nil, "", &netError{fmt.Errorf("remote module %s: cannot reach the server: %v", u, unwrapURL(err))}
		}
		return nil, "", fmt.Errorf("remote module %s: %v", u, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("remote module %s: HTTP %s", u, resp.Status)
	}
	// 32 MiB: far above any real module, a bound on a runaway response.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, "", &netError{fmt.Errorf("remote module %s: reading the body: %v", u, err)}
	}
	return b, resp.Request.URL.String(), nil
}

func unwrapURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

func isNetErr(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var ne net.Error
	return errors.As(err, &op) || errors.As(err, &dns) || errors.As(err, &ne) && ne.Timeout()
}

// The cache: blobs/<sha256 of content> holds each content once, and
// urls/<sha256 of URL> names the blob last served for that URL and the
// URL it came from after redirects.
func (l *RemoteLoader) store(u, final string, b []byte) {
	if l.CacheDir == "" {
		return
	}
	sum := sha256.Sum256(b)
	blob := hex.EncodeToString(sum[:])
	if err := writeAtomic(filepath.Join(l.CacheDir, "blobs", blob), b); err != nil {
		if l.Warn != nil {
			l.Warn("module cache: " + err.Error())
		}
		return
	}
	_ = writeAtomic(filepath.Join(l.CacheDir, "urls", urlKey(u)), []byte(blob+"\n"+final+"\n"))
}

func (l *RemoteLoader) cached(u string) ([]byte, string, bool) {
	if l.CacheDir == "" {
		return nil, "", false
	}
	ref, err := os.ReadFile(filepath.Join(l.CacheDir, "urls", urlKey(u)))
	if err != nil {
		return nil, "", false
	}
	blob, final, _ := strings.Cut(strings.TrimSpace(string(ref)), "\n")
	if final == "" {
		final = u
	}
	b, err := os.ReadFile(filepath.Join(l.CacheDir, "blobs", filepath.Base(blob)))
	if err != nil {
		return nil, "", false
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != blob {
		return nil, "", false // a damaged blob is no copy
	}
	return b, final, true
}

func urlKey(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

// writeAtomic writes b to p through a temporary file and a rename, so a
// concurrent run never reads half a file.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), p)
}

// remoteNamespace is esbuild's namespace of fetched modules.
const remoteNamespace = "remote"

// remotePlugin bundles remote modules: an https:// import is fetched,
// and imports inside a fetched module resolve against its URL. URLs
// keep(url) says the engine serves itself stay external (require()), or
// with deferKept are left to the next plugin.
func remotePlugin(l *RemoteLoader, keep func(string) bool, deferKept bool) api.Plugin {
	var mu sync.Mutex
	contents := map[string]string{}
	load := func(u string) (api.OnResolveResult, error) {
		b, final, err := l.Fetch(context.Background(), u)
		if err != nil {
			return api.OnResolveResult{}, err
		}
		mu.Lock()
		contents[final] = string(b)
		mu.Unlock()
		return api.OnResolveResult{Path: final, Namespace: remoteNamespace}, nil
	}
	return api.Plugin{
		Name: "spread-remote",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: `^https?://`}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				if keep != nil && keep(a.Path) {
					if deferKept {
						return api.OnResolveResult{}, nil
					}
					return api.OnResolveResult{Path: a.Path, External: true}, nil
				}
				return load(a.Path)
			})
			// relative and root-relative imports inside a remote module.
			b.OnResolve(api.OnResolveOptions{Filter: `^\.{0,2}/`, Namespace: remoteNamespace}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				base, err := url.Parse(a.Importer)
				if err != nil {
					return api.OnResolveResult{}, err
				}
				ref, err := url.Parse(a.Path)
				if err != nil {
					return api.OnResolveResult{}, fmt.Errorf("import %q: %w", a.Path, err)
				}
				return load(base.ResolveReference(ref).String())
			})
			b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: remoteNamespace}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
				mu.Lock()
				src, ok := contents[a.Path]
				mu.Unlock()
				if !ok {
					return api.OnLoadResult{}, fmt.Errorf("remote module %s was not fetched", a.Path)
				}
				loader := api.LoaderJS
				if u, err := url.Parse(a.Path); err == nil {
					switch path.Ext(u.Path) {
					case ".ts":
						loader = api.LoaderTS
					case ".json":
						loader = api.LoaderJSON
					}
				}
				return api.OnLoadResult{Contents: &src, Loader: loader}, nil
			})
		},
	}
}

// SortedURLs lists m's keys in order.
func SortedURLs(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
