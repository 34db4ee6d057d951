package k6grpc

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/grpcecho/echopb"
	"spread.dev/echo-server/testbin"

	labdns "spread.dev/spread/internal/lab/dns"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

type point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

// spreadRun runs `spread run` on script (written next to echo.proto and
// echo.protoset in a temporary folder) and returns the --summary-export
// metrics and the JSON output's grpc_* points. Every check must pass.
func spreadRun(t *testing.T, script string, args ...string) (map[string]map[string]any, []point) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building spread")
	}
	bin := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	dir := t.TempDir()
	writeProtos(t, dir)
	path := filepath.Join(dir, "script.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	summary, samples := filepath.Join(dir, "summary.json"), filepath.Join(dir, "samples.json")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	full := append([]string{"run", "--no-color", "--summary-export", summary, "-o", "json=" + samples}, args...)
	cmd := exec.CommandContext(ctx, bin, append(full, path)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spread run: %v\n%s", err, out)
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, raw)
	}
	f, err := os.Open(samples)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pts []point
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p point
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Type == "Point" && strings.HasPrefix(p.Metric, "grpc_") {
			pts = append(pts, p)
		}
	}
	return sum.Metrics, pts
}

// writeProtos puts echo-server's echo.proto (from the repository) and a
// protoset built from its compiled descriptor into dir.
func writeProtos(t *testing.T, dir string) {
	t.Helper()
	root, err := testbin.Root()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "echo-server", "grpcecho", "echopb", "echo.proto"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "protos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "protos", "echo.proto"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(echopb.File_echo_proto)}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "echo.protoset"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// count is how many points of metric the JSON output holds (the summary
// export gives trends no count, as k6's).
func count(pts []point, metric string) float64 {
	n := 0.0
	for _, p := range pts {
		if p.Metric == metric {
			n++
		}
	}
	return n
}

func num(m map[string]map[string]any, metric, stat string) float64 {
	v, _ := m[metric][stat].(float64)
	return v
}

func startEcho(t *testing.T, pod string, args ...string) *echotest.Server {
	t.Helper()
	bin := testbin.MustBuild(t, echotest.Package)
	return echotest.Start(t, echotest.Config{Bin: bin, Pod: pod, H3: echotest.Off, ReadyTimeout: 30 * time.Second,
		Args: append([]string{"--delay", "0"}, args...)})
}

// unaryScript: load() with an import path, connect plaintext and TLS
// (tls.cacerts from open()), invoke, asyncInvoke, healthCheck, errors as
// statuses, constants, close.
const unaryScript = `
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
const client = new grpc.Client();
const infos = client.load(['protos'], 'echo.proto');
const ca = open(__ENV.CA);
export default async function () {
  check(infos, { 'load lists 4 methods': (l) => l.length === 4 && l.some((m) => m.fullMethod === '/spread.echo.v1.Echo/Chat' && m.isClientStream && m.isServerStream) });
  const tls = __ITER % 2 === 1;
  check(client.connect(tls ? __ENV.TLS : __ENV.H2C, tls ? { tls: { cacerts: ca }, authority: 'localhost' } : { plaintext: true, timeout: '5s' }), { 'connect': (ok) => ok === true });
  const r = client.invoke('spread.echo.v1.Echo/Echo', { message: 'hi' }, { metadata: { 'x-test': 'yes' }, tags: { my_tag: 'x' } });
  check(r, {
    'status OK': (r) => r.status === grpc.StatusOK && r.error === null,
    'reply names the pod': (r) => r.message.hostname === __ENV.POD && r.message.message === 'hi',
    'proto': (r) => r.message.proto === (tls ? 'grpc+tls' : 'grpc'),
    'x-served-by header': (r) => r.headers['x-served-by'][0] === __ENV.POD,
  });
  const a = await client.asyncInvoke('/spread.echo.v1.Echo/Echo', { message: 'async' });
  check(a, { 'async OK': (a) => a.status === grpc.StatusOK && a.message.message === 'async' });
  const [p1, p2] = await Promise.all([client.asyncInvoke('spread.echo.v1.Echo/Echo', { message: '1' }), client.asyncInvoke('spread.echo.v1.Echo/Echo', { message: '2' })]);
  check(null, { 'two at once': () => p1.message.message === '1' && p2.message.message === '2' });
  const h = client.healthCheck();
  check(h, { 'health serving': (h) => h.status === grpc.StatusOK && h.message.status === grpc.HealthCheckServing });
  const hs = client.healthCheck('spread.echo.v1.Echo');
  check(hs, { 'service health serving': (h) => h.message.status === grpc.HealthCheckServing });
  const bad = client.invoke('spread.echo.v1.Echo/Echo', { message: 'x'.repeat(100000) });
  check(bad, { 'oversized: RESOURCE_EXHAUSTED as a status': (b) => b.status === grpc.StatusResourceExhausted && b.error.code === 8 && b.message === null });
  let threw = '';
  try { client.invoke('spread.echo.v1.Echo/Nope', {}); } catch (e) { threw = String(e); }
  check(null, { 'unknown method throws': () => threw.indexOf('not found') >= 0 });
  try { client.invoke('spread.echo.v1.Echo/Echo', { nosuchfield: 1 }); threw = ''; } catch (e) { threw = String(e); }
  check(null, { 'bad request throws': () => threw.indexOf('request') >= 0 });
  check(null, { 'constants': () => grpc.StatusOK === 0 && grpc.StatusUnavailable === 14 && grpc.StatusUnauthenticated === 16 });
  client.close();
  try { client.invoke('spread.echo.v1.Echo/Echo', {}); threw = ''; } catch (e) { threw = String(e); }
  check(null, { 'closed client throws': () => threw.indexOf('not connected') >= 0 });
}
`

// TestUnary: the unary API end to end against echo-server's h2c and TLS
// listeners; metrics carry k6's tags and the pod.
func TestUnary(t *testing.T) {
	es := startEcho(t, "pod-grpc-js", "--grpc-max-msg-bytes", "65536")
	m, pts := spreadRun(t, unaryScript, "-u", "2", "-i", "4",
		"-e", "H2C="+es.GRPC, "-e", "TLS="+es.TLS, "-e", "CA="+es.PKI.CA, "-e", "POD=pod-grpc-js")
	// Per iteration: 4 echo RPCs, 2 health checks, 1 oversized.
	if got := count(pts, "grpc_req_duration"); got != 4*7 {
		t.Errorf("grpc_req_duration points = %v, want 28", got)
	}
	if got := es.Series(t, `echo_requests_total{code="OK",proto="grpc"}`); got != 16 {
		t.Errorf("server answered %v Echo RPCs, want 16", got)
	}
	if num(m, "data_sent", "count") <= 0 || num(m, "data_received", "count") <= 0 {
		t.Errorf("data_sent %v data_received %v", m["data_sent"], m["data_received"])
	}
	var tagged int
	for _, p := range pts {
		tg := p.Data.Tags
		if p.Metric == "grpc_req_duration" && tg["my_tag"] == "x" {
			tagged++
			if tg["pod"] != "pod-grpc-js" || tg["status"] != "0" || tg["name"] != "/spread.echo.v1.Echo/Echo" ||
				tg["method"] != "/spread.echo.v1.Echo/Echo" || tg["service"] != "spread.echo.v1.Echo" || tg["scenario"] != "default" ||
				!strings.HasSuffix(tg["url"], "/spread.echo.v1.Echo/Echo") {
				t.Errorf("tags %v", tg)
			}
		}
	}
	if tagged != 4 {
		t.Errorf("%d grpc_req_duration points with the script's tag, want 4", tagged)
	}
}

// streamScript: server streaming, client streaming and bidirectional
// streams on the event loop, with reflection instead of load() in half
// the iterations and loadProtoset in the other half.
const streamScript = `
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
const fromSet = new grpc.Client();
fromSet.loadProtoset('echo.protoset');
const bare = new grpc.Client();
function run(client, method, writes, onDone) {
  return new Promise((resolve) => {
    const s = new grpc.Stream(client, method, { tags: { kind: method } });
    const got = [];
    let err = null;
    s.on('data', (m) => got.push(m));
    s.on('error', (e) => { err = e; });
    s.on('end', () => resolve({ got, err }));
    for (const w of writes) s.write(w);
    s.end();
  });
}
export default async function () {
  const client = __ITER % 2 === 0 ? bare : fromSet;
  client.connect(__ENV.H2C, { plaintext: true, reflect: __ITER % 2 === 0 });
  const srv = await run(client, 'spread.echo.v1.Echo/EchoStream', [{ message: 's', count: 3, intervalMs: 5 }]);
  check(srv, { 'server stream: 3 replies in order': (r) => r.err === null && r.got.length === 3 && r.got.map((m) => m.seq).join() === '1,2,3' && r.got[0].hostname === __ENV.POD });
  const cli = await run(client, 'spread.echo.v1.Echo/Collect', [{ message: 'a' }, { message: 'b' }, { message: 'c' }]);
  check(cli, { 'client stream: one reply with all': (r) => r.err === null && r.got.length === 1 && r.got[0].message === 'a b c' && r.got[0].seq === '3' });
  const bidi = await run(client, 'spread.echo.v1.Echo/Chat', [{ message: 'x' }, { message: 'y' }]);
  check(bidi, { 'bidi: each echoed': (r) => r.err === null && r.got.map((m) => m.message).join() === 'x,y' });
  const bad = await run(client, 'spread.echo.v1.Echo/EchoStream', [{ count: 100000000 }]);
  check(bad, { 'stream error event': (r) => r.err !== null && r.err.code === grpc.StatusInvalidArgument && r.got.length === 0 });
  // A stream left open by the script is still awaited: the iteration ends with it.
  let ended = false;
  const s = new grpc.Stream(client, 'spread.echo.v1.Echo/EchoStream');
  s.on('end', () => { ended = true; });
  s.write({ count: 2, intervalMs: 20 });
  await new Promise((r) => s.on('end', r));
  check(null, { 'end seen': () => ended });
  client.close();
}
`

// TestStreams: every streaming kind through the event loop, with the
// methods found by reflection and by loadProtoset.
func TestStreams(t *testing.T) {
	es := startEcho(t, "pod-grpc-stream")
	m, pts := spreadRun(t, streamScript, "-u", "2", "-i", "4", "-e", "H2C="+es.GRPC, "-e", "POD=pod-grpc-stream")
	// Per iteration: 5 streams; sent 1+3+2+1+1 = 8; received 3+1+2+0+2 = 8.
	for metric, want := range map[string]float64{"grpc_streams": 20, "grpc_streams_msgs_sent": 32, "grpc_streams_msgs_received": 32} {
		if got := num(m, metric, "count"); got != want {
			t.Errorf("%s count = %v, want %v", metric, got, want)
		}
	}
	if got := count(pts, "grpc_req_duration"); got != 20 {
		t.Errorf("grpc_req_duration points = %v, want 20 (one per stream)", got)
	}
	for _, p := range pts {
		if p.Metric == "grpc_streams_msgs_received" && p.Data.Tags["pod"] != "pod-grpc-stream" {
			t.Fatalf("received message without the pod: %v", p.Data.Tags)
		}
	}
}

// TestConnectionPolicy: the project's connection policies, counted by the
// server: one connection per VU, a new one per request, rotation after N.
func TestConnectionPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, params string
		want         float64 // connections the server saw for 20 RPCs of one VU
	}{
		{"per-vu", `{ plaintext: true }`, 1},
		{"per-request", `{ plaintext: true, connection: 'per-request' }`, 20},
		{"rotation", `{ plaintext: true, maxRequestsPerConnection: 5 }`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := startEcho(t, "pod-policy")
			spreadRun(t, `
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
const client = new grpc.Client();
client.load(['protos'], 'echo.proto');
export default function () {
  if (__ITER === 0) client.connect(__ENV.H2C, `+tc.params+`);
  const r = client.invoke('spread.echo.v1.Echo/Echo', {});
  check(r, { 'ok': (r) => r.status === grpc.StatusOK });
}
`, "-u", "1", "-i", "20", "-e", "H2C="+es.GRPC)
			if got := es.Series(t, `echo_connections_opened_total{proto="grpc"}`); got != tc.want {
				t.Errorf("server saw %v gRPC connections, want %v", got, tc.want)
			}
		})
	}
}

// TestBadInput: clear errors for bad arguments, with the script's location.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	for _, tc := range []struct{ script, want string }{
		{`import grpc from 'k6/net/grpc'; const c = new grpc.Client(); c.load([], 'missing.proto'); export default function () {}`, "missing.proto"},
		{`import grpc from 'k6/net/grpc'; const c = new grpc.Client(); export default function () { c.connect('127.0.0.1:1', { plaintext: true, nope: 1 }); }`, "unknown connect parameter"},
		{`import grpc from 'k6/net/grpc'; const c = new grpc.Client(); c.connect('127.0.0.1:1'); export default function () {}`, "init context"},
		{`import grpc from 'k6/net/grpc'; const c = new grpc.Client(); export default function () { c.connect('127.0.0.1:1', { plaintext: true, timeout: '300ms' }); }`, "grpc: connect 127.0.0.1:1"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.js")
		if err := os.WriteFile(path, []byte(tc.script), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, _ := exec.CommandContext(ctx, bin, "run", "-q", "--no-color", "-i", "1", path).CombinedOutput()
		cancel()
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "s.js:") {
			t.Errorf("script %s\noutput lacks %q or the file:line:\n%s", tc.script, tc.want, out)
		}
	}
}

// TestRoundRobinDNS: connect('dns://DNS/NAME:PORT', {loadBalancing:
// 'round_robin'}) resolves through a real DNS server (the lab's,
// spread/internal/lab/dns) to two echo-servers on 127.0.0.1 and 127.0.0.2
// and spreads the RPCs of one connection over both; pick_first sends them
// all to one.
func TestRoundRobinDNS(t *testing.T) {
	port, err := freeOnBoth("127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Skip("no port free on both 127.0.0.1 and 127.0.0.2:", err)
	}
	bin := testbin.MustBuild(t, echotest.Package)
	a := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-a", H3: echotest.Off, GRPC: "127.0.0.1:" + port, Args: []string{"--delay", "0"}})
	b := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-b", H3: echotest.Off, GRPC: "127.0.0.2:" + port, Args: []string{"--delay", "0"}})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skip("DNS TCP port taken:", err)
	}
	srv, err := labdns.Serve(pc, ln, time.Second, "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Set("echo-server-headless.spread.svc.cluster.local", []string{"127.0.0.1", "127.0.0.2"})
	target := "dns://" + srv.Addr() + "/echo-server-headless.spread.svc.cluster.local:" + port
	spreadRun(t, `
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
const client = new grpc.Client();
export default function () {
  client.connect(__ENV.TARGET, { plaintext: true, reflect: true, loadBalancing: __ENV.LB });
  const pods = {};
  for (let i = 0; i < 20; i++) {
    const r = client.invoke('spread.echo.v1.Echo/Echo', {});
    check(r, { ok: (r) => r.status === grpc.StatusOK });
    pods[r.message.hostname] = (pods[r.message.hostname] || 0) + 1;
  }
  const n = Object.keys(pods).length;
  check(pods, { ['pods seen: ' + __ENV.WANT]: () => n === parseInt(__ENV.WANT, 10) });
  client.close();
}
`, "-u", "1", "-i", "1", "-e", "TARGET="+target, "-e", "LB=round_robin", "-e", "WANT=2")
	spreadRun(t, `
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
const client = new grpc.Client();
export default function () {
  client.connect(__ENV.TARGET, { plaintext: true, reflect: true, loadBalancing: 'pick_first' });
  const pods = {};
  for (let i = 0; i < 20; i++) pods[client.invoke('spread.echo.v1.Echo/Echo', {}).message.hostname] = 1;
  check(pods, { 'one pod': () => Object.keys(pods).length === 1 });
}
`, "-u", "1", "-i", "1", "-e", "TARGET="+target)
	if ra, rb := a.Series(t, `echo_requests_total{code="OK",proto="grpc"}`), b.Series(t, `echo_requests_total{code="OK",proto="grpc"}`); ra+rb != 40 || ra < 5 || rb < 5 {
		t.Errorf("server side: pod-a %v, pod-b %v RPCs; want 40 in all, each >= 5 (10 from round_robin + maybe 20 from pick_first)", ra, rb)
	}
}

// freeOnBoth finds a TCP port free on both addresses.
func freeOnBoth(a, b string) (string, error) {
	var last error
	for range 20 {
		l1, err := net.Listen("tcp", b+":0")
		if err != nil {
			return "", err
		}
		_, port, _ := net.SplitHostPort(l1.Addr().String())
		l2, err := net.Listen("tcp", a+":"+port)
		l1.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
		last = err
	}
	return "", last
}
