// WebSockets held open (k6/ws): each VU opens one session to echo-server's
// /ws and sends a message every WS_INTERVAL_MS, keeping the session for
// the whole run. A session is one TCP connection, so the Service picks a
// pod once per session: after a scale-up the new pod gets none of the
// existing sessions, only new ones. With the server's --max-conn-age the
// server closes each session at that age with 1001 (going away); the
// iteration ends and the next one reconnects — a new pick each time.
//   spread lab --replicas 1 --scale 2@2m scripts/scale_ws.js
//   spread lab --replicas 1 --scale 2@2m --pod-arg=--max-conn-age=30s scripts/scale_ws.js
//   spread run -e TARGET_WS=ws://echo-server:80 scripts/scale_ws.js
import ws from 'k6/ws';
import { check } from 'k6';
import { loadOptions, envStr, envInt } from './lib/common.js';

// ws.connect holds its iteration for the whole session, so the end of the
// test interrupts it: a short gracefulStop (k6's default is 30 s) ends the
// sessions with the run instead of 30 s later.
const load = loadOptions({});
export const options = {
  scenarios: {
    default: { executor: 'constant-vus', vus: load.vus, duration: load.duration, gracefulStop: envStr('GRACEFUL_STOP', '1s') },
  },
};

// The lab sets TARGET_HTTP; the session goes to the same Service port.
const url = envStr('TARGET_WS', envStr('TARGET_HTTP', 'http://echo-server:80').replace(/^http/, 'ws'))
  .replace(/\/+$/, '') + '/ws';
const interval = envInt('WS_INTERVAL_MS', 100);
const hold = envInt('WS_HOLD_MS', 0); // 0: until the server closes or the test ends

export default function () {
  let pod = '';
  const res = ws.connect(url, { tags: { name: 'GET /ws' } }, function (socket) {
    socket.on('message', function (m) {
      if (pod === '') pod = JSON.parse(m).hostname; // the hello names the pod
    });
    socket.setInterval(function () { socket.send('m ' + Date.now()); }, interval);
    if (hold > 0) socket.setTimeout(function () { socket.close(); }, hold);
  });
  check(res, { 'status is 101': (r) => r && r.status === 101 });
}
