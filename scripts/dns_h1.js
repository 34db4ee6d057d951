// Client-side balancing over the headless Service: HTTP/1.1 keep-alive to
// the pods' own addresses (one A record per ready pod, from the lab's
// cluster DNS), k6's dns option picking an address in turn (select
// roundRobin) from a cache with a short TTL, and a new connection every
// REQS requests (noVUConnectionReuse: each iteration makes REQS requests
// on one connection, the next iteration dials again, resolving again).
//   spread lab --replicas 1 --scale 2@10s scripts/dns_h1.js
import http from 'k6/http';
import { check } from 'k6';
import { envStr, envInt, loadOptions, ok } from './lib/common.js';

const dns = { select: 'roundRobin', ttl: envStr('DNS_TTL', '1s'), policy: 'preferIPv4' };
if (envStr('TARGET_DNS', '') !== '') dns.server = envStr('TARGET_DNS', '');

export const options = loadOptions({ discardResponseBodies: true, noVUConnectionReuse: true, dns: dns });

const url = 'http://' + envStr('HEADLESS_HOST', 'echo-server-headless.spread.svc.cluster.local') + ':' + envStr('POD_PORT', '5080') + '/';
const reqs = envInt('REQS', 10);

export default function () {
  for (let i = 0; i < reqs; i++) {
    const res = http.get(url, { tags: { name: 'GET /' } });
    check(res, ok);
  }
}
