package k6ws

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// spreadRun runs `spread run` on script with args, returning the
// --summary-export metrics and the JSON output's points.
func spreadRun(t *testing.T, script string, args ...string) (map[string]map[string]any, []point) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building spread")
	}
	bin := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	dir := t.TempDir()
	path := filepath.Join(dir, "script.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	summary, samples := filepath.Join(dir, "summary.json"), filepath.Join(dir, "samples.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"run", "-q", "--no-color", "--summary-export", summary, "-o", "json=" + samples}, args...)
	out, err := exec.CommandContext(ctx, bin, append(full, path)...).CombinedOutput()
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
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Type == "Point" && strings.HasPrefix(p.Metric, "ws_") {
			pts = append(pts, p)
		}
	}
	return sum.Metrics, pts
}

type point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

func num(m map[string]map[string]any, metric, stat string) float64 {
	v, _ := m[metric][stat].(float64)
	return v
}

// wsScript exercises the whole Socket API against echo-server's /ws: the
// hello names the pod, text and binary echo, ping/pong, setTimeout,
// setInterval, close with 1000; every check must pass (else exit 99).
const wsScript = `
import ws from 'k6/ws';
import { check } from 'k6';
export const options = { tlsCACerts: __ENV.CA, thresholds: { checks: ['rate==1'] } };
export default function () {
  const url = __ITER % 2 === 0 ? __ENV.WS : __ENV.WSS;
  let hello = null, echoed = 0, bin = 0, pongs = 0, closeCode = 0, ticks = 0, opened = 0;
  const res = ws.connect(url, { tags: { my_tag: 'x' } }, function (socket) {
    socket.on('open', () => { opened++; socket.ping(); });
    socket.on('message', (m) => {
      if (hello === null) {
        hello = JSON.parse(m);
        socket.send('text-1');
        socket.sendBinary(new Uint8Array([1, 2, 3]).buffer);
        return;
      }
      if (m === 'text-1') echoed++;
    });
    socket.on('binaryMessage', (b) => {
      const u = new Uint8Array(b);
      if (u.length === 3 && u[2] === 3) bin++;
      socket.setTimeout(() => socket.close(), 30);
    });
    socket.on('pong', () => { pongs++; });
    socket.on('close', (code) => { closeCode = code; });
    socket.setInterval(() => { ticks++; }, 5);
  });
  check(res, {
    'status 101': (r) => r.status === 101,
    'X-Served-By': (r) => r.headers['X-Served-By'] === __ENV.POD,
  });
  check(null, {
    'open once': () => opened === 1,
    'hello names the pod': () => hello !== null && hello.hostname === __ENV.POD,
    'text echoed': () => echoed === 1,
    'binary echoed': () => bin === 1,
    'pong': () => pongs >= 1,
    'closed with 1000': () => closeCode === 1000,
    'interval ran': () => ticks >= 1,
  });
}
`

// TestConnectEcho: `spread run` with k6/ws against echo-server over ws://
// and wss:// (the lab CA trusted through tlsCACerts); k6's ws_* metrics
// carry url, status and the pod from X-Served-By.
func TestConnectEcho(t *testing.T) {
	bin := testbin.MustBuild(t, echotest.Package)
	es := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-ws", H3: echotest.Off, ReadyTimeout: 30 * time.Second})
	wsURL := "ws://" + es.H1 + "/ws"
	m, pts := spreadRun(t, wsScript, "-u", "2", "-i", "6",
		"-e", "WS="+wsURL, "-e", "WSS=wss://"+es.TLS+"/ws", "-e", "CA="+es.PKI.CA, "-e", "POD=pod-ws")
	for metric, want := range map[string]float64{"ws_sessions": 6, "ws_msgs_sent": 12, "ws_msgs_received": 18} {
		if got := num(m, metric, "count"); got != want {
			t.Errorf("%s count = %v, want %v", metric, got, want)
		}
	}
	if got := es.Series(t, `echo_ws_sessions_opened_total{proto="h1"}`); got != 6 {
		t.Errorf("server counted %v sessions, want 6", got)
	}
	for _, metric := range []string{"ws_connecting", "ws_session_duration", "ws_ping"} {
		if num(m, metric, "max") <= 0 {
			t.Errorf("%s: %v, want positive times", metric, m[metric])
		}
	}
	if num(m, "data_sent", "count") <= 0 || num(m, "data_received", "count") <= 0 {
		t.Errorf("data_sent %v data_received %v", m["data_sent"], m["data_received"])
	}
	seen := map[string]int{}
	for _, p := range pts {
		tg := p.Data.Tags
		if tg["pod"] != "pod-ws" || tg["status"] != "101" || tg["my_tag"] != "x" || tg["scenario"] != "default" ||
			(tg["url"] != wsURL && !strings.HasPrefix(tg["url"], "wss://")) {
			t.Fatalf("%s sample tags %v", p.Metric, tg)
		}
		seen[p.Metric]++
	}
	for _, metric := range []string{"ws_sessions", "ws_connecting", "ws_msgs_sent", "ws_msgs_received", "ws_ping", "ws_session_duration"} {
		if seen[metric] == 0 {
			t.Errorf("no %s point in the JSON output", metric)
		}
	}
}

// TestServerCloses: echo-server's --max-conn-age ends each session with
// 1001 and the script's close handler sees it (no error); a message over
// --ws-max-message-bytes gets 1009, an error first; a refused dial throws.
func TestServerCloses(t *testing.T) {
	bin := testbin.MustBuild(t, echotest.Package)
	es := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-age", H3: echotest.Off, ReadyTimeout: 30 * time.Second,
		Args: []string{"--max-conn-age", "300ms", "--ws-max-message-bytes", "100"}})
	m, _ := spreadRun(t, `
import ws from 'k6/ws';
import { check } from 'k6';
export const options = { thresholds: { checks: ['rate==1'] } };
export default function () {
  let code = 0, errors = 0;
  const start = Date.now();
  ws.connect(__ENV.WS, function (socket) {
    socket.on('close', (c) => { code = c; });
    socket.on('error', () => { errors++; });
  });
  const took = Date.now() - start;
  check(null, { 'closed by the server with 1001': () => code === 1001 && errors === 0, 'at its max age': () => took >= 250 && took < 3000 });
  let bigCode = 0, bigErrors = 0;
  ws.connect(__ENV.WS, function (socket) {
    socket.on('open', () => socket.send('x'.repeat(200)));
    socket.on('error', () => { bigErrors++; });
    socket.on('close', (c) => { bigCode = c; });
  });
  check(null, { 'a message over the limit: error, then close 1009': () => bigErrors === 1 && bigCode === 1009 });
  let threw = '';
  try { ws.connect('ws://127.0.0.1:1/ws', function () {}); } catch (e) { threw = String(e); }
  check(null, { 'a refused dial throws': () => threw.indexOf('ws.connect') >= 0 });
}
`, "-u", "1", "-i", "2", "-e", "WS=ws://"+es.H1+"/ws")
	if got := num(m, "ws_sessions", "count"); got != 4 {
		t.Errorf("ws_sessions = %v, want 4", got)
	}
	if got := es.Series(t, `echo_ws_sessions_closed_total{proto="h1",reason="max_age"}`); got != 2 {
		t.Errorf("server closed %v sessions at max age, want 2", got)
	}
}
