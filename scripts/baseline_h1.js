// HTTP/1.1 with keep-alive (k6/http's default): each VU keeps its TCP
// connection, so after a scale-up the new pod gets (almost) nothing.
//   spread lab --replicas 1 --scale 2@2m scripts/baseline_h1.js
//   spread run -e TARGET_HTTP=http://echo-server:80 scripts/baseline_h1.js
import http from 'k6/http';
import { check, sleep } from 'k6';
import { loadOptions, target, ok, pause } from './lib/common.js';

export const options = loadOptions({ discardResponseBodies: true });

const url = target('TARGET_HTTP', 'http://echo-server:80');

export default function () {
  const res = http.get(url, { tags: { name: 'GET /' } });
  check(res, ok);
  pause(sleep);
}
