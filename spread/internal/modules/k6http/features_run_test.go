package k6http

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// End-to-end: the real `spread run` binary runs k6 scripts against real
// servers started here (go-httpbin, a DNS server, TLS and raw TCP
// servers). Each script checks what it got with check(); the thresholds
// make spread exit non-zero (99) when a check or a tagged count is off.

// spreadRun runs script with args and fails the test, showing spread's
// output, when spread does not exit 0. It returns the child's peak RSS.
func spreadRun(t *testing.T, script string, args ...string) (out string, maxRSSKiB int64) {
	t.Helper()
	spread := buildBinary(t, "spread")
	path := filepath.Join(t.TempDir(), "script.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spread, append(append([]string{"run", "--no-color"}, args...), path)...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spread run: %v\n%s", err, b)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSSKiB = ru.Maxrss
	}
	return string(b), maxRSSKiB
}

// codecServer decodes request bodies by their Content-Encoding (so request
// compression is checked by the libraries, not by our own encoder) and
// answers /br and /zstd with compressed bodies.
func codecServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		codings := strings.Split(r.Header.Get("Content-Encoding"), ",")
		for i := len(codings) - 1; i >= 0; i-- {
			var rd io.Reader
			var err error
			switch strings.TrimSpace(codings[i]) {
			case "gzip":
				rd, err = gzip.NewReader(bytes.NewReader(data))
			case "deflate":
				rd, err = zlib.NewReader(bytes.NewReader(data))
			case "br":
				rd = brotli.NewReader(bytes.NewReader(data))
			case "zstd":
				var zr *zstd.Decoder
				zr, err = zstd.NewReader(bytes.NewReader(data))
				rd = zr
			default:
				http.Error(w, "unknown coding "+codings[i], 400)
				return
			}
			if err == nil {
				data, err = io.ReadAll(rd)
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
		}
		_, _ = w.Write(data)
	})
	mux.HandleFunc("/compressed", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		var wr io.WriteCloser
		enc := r.URL.Query().Get("enc")
		switch enc {
		case "br":
			wr = brotli.NewWriter(&buf)
		case "zstd":
			wr, _ = zstd.NewWriter(&buf)
		case "gzip, br":
			// gzip first, then brotli over it
			var gz bytes.Buffer
			g := gzip.NewWriter(&gz)
			_, _ = g.Write([]byte(strings.Repeat(`{"pod":"codec"}`, 1)))
			_ = g.Close()
			b := brotli.NewWriter(&buf)
			_, _ = b.Write(gz.Bytes())
			_ = b.Close()
			w.Header().Set("Content-Encoding", enc)
			_, _ = w.Write(buf.Bytes())
			return
		}
		_, _ = wr.Write([]byte(`{"pod":"codec"}`))
		_ = wr.Close()
		w.Header().Set("Content-Encoding", enc)
		_, _ = w.Write(buf.Bytes())
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestSpreadRunHTTPFeatures(t *testing.T) {
	bin := newHTTPBin(t)
	codec := codecServer(t)
	auth := strings.Replace(bin.URL, "http://", "http://user:pass@", 1)
	ntlm := httptest.NewServer(&ntlmServer{user: "alice", domain: "CORP", pass: "s3cret", challenges: map[string][]byte{}, authed: map[string]bool{}})
	t.Cleanup(ntlm.Close)
	ntlmURL := strings.Replace(ntlm.URL, "http://", "http://CORP%5Calice:s3cret@", 1) + "/"
	script := `
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  iterations: 2, vus: 1, maxRedirects: 5, userAgent: 'feature-test/1.0', batchPerHost: 2,
  thresholds: { checks: ['rate==1'] },
};
const B = __ENV.BIN, A = __ENV.AUTH, C = __ENV.CODEC;
export default async function () {
  // Cookies: set on a redirect hop, kept per iteration, replaced, cleared.
  const set = http.get(B + '/cookies/set?flavour=oat');
  check(set, { 'cookie through a redirect': (r) => r.json('cookies.flavour') === 'oat' });
  const rep = http.get(B + '/cookies', { cookies: { flavour: { value: 'rye', replace: true }, extra: 'x' } });
  check(rep, { 'params.cookies replace': (r) => r.json('cookies.flavour') === 'rye' && r.json('cookies.extra') === 'x' });
  const jar = http.cookieJar();
  check(jar, { 'cookiesForURL': (j) => j.cookiesForURL(B + '/').flavour[0] === 'oat' });
  jar.set(B, 'manual', 'm');
  jar.delete(B, 'flavour');
  const after = http.get(B + '/cookies');
  check(after, { 'set and delete': (r) => r.json('cookies.manual') === 'm' && r.json('cookies.flavour') === undefined });
  const own = new http.CookieJar();
  own.set(B, 'mine', '1');
  check(http.get(B + '/cookies', { jar: own }), { 'params.jar': (r) => r.json('cookies.mine') === '1' && r.json('cookies.manual') === undefined });
  check(http.get(B + '/cookies/set?solo=1', { redirects: 0 }), { 'res.cookies': (r) => r.cookies.solo[0].value === '1' });
  jar.clear(B + '/');

  // Bodies.
  const form = http.post(B + '/post', { topping: ['onion', 'bacon'] });
  check(form, { 'array values as repeated keys': (r) => JSON.stringify(r.json('form.topping')) === '["onion","bacon"]' });
  const up = http.post(B + '/post', { doc: http.file('file body', 'a.txt', 'text/plain'), note: 'n' });
  check(up, { 'http.file multipart': (r) => r.json('files.doc.0') === 'file body' && r.json('form.note.0') === 'n' });
  check(http.get(B + '/bytes/10', { responseType: 'binary' }), { 'binary ArrayBuffer': (r) => r.body.byteLength === 10 });
  check(http.get(B + '/bytes/10', { responseType: 'none' }), { 'none': (r) => r.body === null });

  // Responses: html, submitForm, clickLink, gjson.
  const page = http.get(B + '/forms/post');
  check(page, { 'res.html': (r) => r.html('form').attr('method') === 'post' });
  const sent = page.submitForm({ fields: { custname: 'Ada' }, submitSelector: 'button' });
  check(sent, { 'submitForm': (r) => r.json('form.custname.0') === 'Ada' });
  check(http.get(B + '/links/3/0').clickLink({ selector: 'a' }), { 'clickLink': (r) => r.status === 200 && r.url.indexOf('/links/3/') > 0 });
  check(http.get(B + '/json'), { 'gjson path': (r) => r.json('slideshow.slides.#') === 2 && r.json('slideshow.slides.1.title') === 'Overview' });

  // Auth.
  check(http.get(A + '/basic-auth/user/pass'), { 'basic auth': (r) => r.status === 200 });
  check(http.get(A + '/digest-auth/auth/user/pass', { auth: 'digest' }), { 'digest auth': (r) => r.status === 200 && r.json('authorized') === true });
  check(http.get(__ENV.NTLM, { auth: 'ntlm' }), { 'ntlm auth': (r) => r.status === 200 && r.body === 'ntlm ok' });

  // Compression: request bodies (one and several codings), responses.
  for (const c of ['gzip', 'deflate', 'br', 'zstd', 'gzip, br', 'zstd,deflate']) {
    check(http.post(C + '/decode', 'payload-' + c, { compression: c }), { ['request ' + c]: (r) => r.body === 'payload-' + c });
  }
  check(http.get(B + '/gzip', { headers: { 'Accept-Encoding': 'gzip' } }), { 'gzip response': (r) => r.json('gzipped') === true });
  check(http.get(B + '/deflate', { headers: { 'Accept-Encoding': 'deflate' } }), { 'deflate response': (r) => r.json('deflated') === true });
  for (const e of ['br', 'zstd', 'gzip, br']) {
    check(http.get(C + '/compressed?enc=' + encodeURIComponent(e)), { ['response ' + e]: (r) => r.json('pod') === 'codec' });
  }

  // Async: many in flight at once.
  const rs = await Promise.all([1, 2, 3, 4].map((i) => http.asyncRequest('GET', B + '/delay/0.2?i=' + i)));
  check(rs, { 'asyncRequest': (r) => r.every((x) => x.status === 200) });

  // http.url (name tag, read back from --out json), userAgent, maxRedirects, batchPerHost.
  for (const id of [1, 2]) http.get(http.url` + "`${B}/anything/${id}`" + `);
  check(http.get(B + '/user-agent'), { 'userAgent option': (r) => r.json('user-agent') === 'feature-test/1.0' });
  check(http.get(B + '/redirect/9'), { 'maxRedirects stops': (r) => r.status === 302 });
  let threw = false;
  try { http.get('http://127.0.0.1:1/', { throw: true }); } catch (e) { threw = true; }
  const t0 = Date.now();
  const batch = http.batch([1, 2, 3, 4].map((i) => B + '/delay/0.3?b=' + i));
  const took = Date.now() - t0;
  check(batch, { 'batchPerHost 2: two rounds of 300 ms': (r) => r.every((x) => x.status === 200) && took >= 590 && took < 3000 });
}
`
	points := filepath.Join(t.TempDir(), "points.json")
	out, _ := spreadRun(t, script, "--out", "json="+points, "-e", "BIN="+bin.URL, "-e", "AUTH="+auth, "-e", "CODEC="+codec.URL, "-e", "NTLM="+ntlmURL)
	if !strings.Contains(out, "checks") {
		t.Fatalf("no checks in the summary:\n%s", out)
	}
	// http.url: both ids share one name tag, the template (the base URL is
	// an interpolation too, as in k6).
	raw, err := os.ReadFile(points)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, `"metric":"http_reqs"`) && strings.Contains(line, `"name":"${}/anything/${}"`) {
			named++
		}
	}
	if named != 4 {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, "anything") && strings.Contains(line, `"metric":"http_reqs"`) {
				t.Log(line)
			}
		}
		t.Fatalf("http_reqs with the http.url name tag: %d, want 4 (2 per iteration)", named)
	}
}

// TestSpreadRunThrowAndDiscard: --throw makes a failed request an
// exception, --discard-response-bodies makes bodies null unless a request
// asks for text; --user-agent and --max-redirects as k6's flags.
func TestSpreadRunThrowAndDiscard(t *testing.T) {
	bin := newHTTPBin(t)
	script := `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(http.get(__ENV.BIN + '/get'), { 'discarded': (r) => r.body === null });
  check(http.get(__ENV.BIN + '/get', { responseType: 'text' }), { 'text on request': (r) => r.body.length > 0 });
  check(http.get(__ENV.BIN + '/user-agent', { responseType: 'text' }), { '--user-agent': (r) => r.json('user-agent') === 'flag-agent' });
  check(http.get(__ENV.BIN + '/redirect/3'), { '--max-redirects': (r) => r.status === 302 });
  let threw = '';
  try { http.get('http://127.0.0.1:1/'); } catch (e) { threw = String(e); }
  check(threw, { 'throw': (s) => s.indexOf('1212') >= 0 });
}
`
	// k6's flags this time (the options tier is in the other tests).
	spreadRun(t, script, "--throw", "--discard-response-bodies", "--user-agent", "flag-agent", "--max-redirects", "1", "-e", "BIN="+bin.URL)
}

// TestSpreadRunDNSHostsLocalIPs: a headless-Service-like name with four A
// records served by a real DNS server; with roundRobin and no connection
// reuse every pod gets the same share, localIPs gives each VU its own
// source address, and hosts (with a port) bypasses DNS.
func TestSpreadRunDNSHostsLocalIPs(t *testing.T) {
	port, perPod := podServers(t, podIPs)
	ds := startDNS(t, "svc.test", podIPs, 20*time.Millisecond)
	var mu sync.Mutex
	sources := map[string]bool{}
	hostsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		sources[host] = true
		mu.Unlock()
		_, _ = fmt.Fprint(w, "static")
	}))
	t.Cleanup(hostsSrv.Close)
	script := fmt.Sprintf(`
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: { pods: { executor: 'per-vu-iterations', vus: 3, iterations: 4 } }, // every VU runs: each has its source IP
  noConnectionReuse: true,
  dns: { ttl: '1m', select: 'roundRobin', policy: 'preferIPv4', server: %q },
  hosts: { 'static.test:80': %q },
  thresholds: { checks: ['rate==1'], http_req_blocked: ['max>0'] },
};
export default function () {
  check(http.get('http://svc.test:%d/'), { 'svc': (r) => r.status === 200 && r.pod !== '' });
  check(http.get('http://static.test/'), { 'hosts with a port': (r) => r.body === 'static' });
}
`, ds.addr, hostsSrv.Listener.Addr().String(), port)
	spreadRun(t, script, "--local-ips", "127.0.0.6-127.0.0.8")
	got := perPod()
	total := 0
	for _, ip := range podIPs {
		total += got[ip]
		if got[ip] != 3 {
			t.Errorf("roundRobin across VUs: per pod %v, want 3 each", got)
			break
		}
	}
	if total != 12 {
		t.Errorf("%d requests reached the pods, want 12", total)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ip := range []string{"127.0.0.6", "127.0.0.7", "127.0.0.8"} {
		if !sources[ip] {
			t.Errorf("localIPs: source addresses seen %v, want 127.0.0.6-8 (one per VU)", sources)
			break
		}
	}
}

// TestSpreadRunTLSAuth: a server that requires a client certificate gets
// the one tlsAuth names for its domain, over the TLS version and cipher
// suite the options allow.
func TestSpreadRunTLSAuth(t *testing.T) {
	p := newTestPKI(t)
	srv := mtlsServer(t, p, tls.RequireAndVerifyClientCert, 0)
	dir := t.TempDir()
	for name, body := range map[string]string{"ca.pem": p.caPEM, "client.pem": p.clientCert, "client.key": p.clientKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  iterations: 1, tlsCACerts: __ENV.DIR + '/ca.pem',
  tlsAuth: [{ domains: ['127.0.0.1'], cert: open(__ENV.DIR + '/client.pem'), key: open(__ENV.DIR + '/client.key') }],
  tlsVersion: { min: 'tls1.2', max: 'tls1.2' },
  tlsCipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  thresholds: { checks: ['rate==1'] },
};
export default function () {
  check(http.get(__ENV.URL), {
    'client certificate': (r) => r.json('cn') === 'client-a',
    'tls1.2': (r) => r.tls_version === 'tls1.2',
    'cipher suite': (r) => r.json('suite') === 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  });
}
`
	spreadRun(t, script, "-e", "DIR="+dir, "-e", "URL="+srv.URL)
}

// TestSpreadRunBadServers: broken responses become k6 error responses (the
// run goes on), and a 1 GiB body read with responseType none keeps the
// spread process's memory far below the body's size.
func TestSpreadRunBadServers(t *testing.T) {
	bs := startBadServer(t)
	script := `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1, maxRedirects: 2, thresholds: { checks: ['rate==1'] } };
export default function () {
  const B = 'http://' + __ENV.ADDR;
  for (const n of ['status', 'header', 'midbody', 'chunked']) {
    check(http.get(B + '/' + n), { ['error for ' + n]: (r) => r.status === 0 && r.error_code === 1000 && r.error !== '' });
  }
  check(http.get(B + '/longer'), { 'longer than Content-Length': (r) => r.body === 'hello' });
  check(http.get(B + '/ok'), { 'next request clean': (r) => r.body === 'ok' });
  check(http.get(B + '/loop'), { 'redirect loop stops': (r) => r.status === 302 && r.error === '' });
  check(http.get(B + '/gigabyte', { responseType: 'none', timeout: '120s' }), { '1 GiB discarded': (r) => r.status === 200 && r.body === null });
}
`
	out, rss := spreadRun(t, script, "-e", "ADDR="+bs.addr)
	if rss <= 0 || rss > 300<<10 {
		t.Fatalf("spread's peak RSS %d KiB reading a discarded 1 GiB body (want well under 300 MiB)\n%s", rss, out)
	}
	t.Logf("peak RSS %d MiB for a 1 GiB discarded body", rss>>10)
}
