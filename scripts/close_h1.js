// HTTP/1.1 with `Connection: close`: a new TCP connection (a new source
// port, so a new Service pick) per request. Spreads fairly, costs a
// handshake per request.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { loadOptions, target, ok, pause } from './lib/common.js';

export const options = loadOptions({ discardResponseBodies: true });

const url = target('TARGET_HTTP', 'http://echo-server:80');
const params = { headers: { Connection: 'close' }, tags: { name: 'GET /' } };

export default function () {
  const res = http.get(url, params);
  check(res, ok);
  pause(sleep);
}
