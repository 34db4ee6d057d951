// HTTP/2 over TLS (negotiated by ALPN), one connection per VU: like
// keep-alive, the new pod gets (almost) nothing. The lab's CA comes from
// CA_CERT (k6/http's tlsCACerts option); leave it unset on a cluster whose
// certificate the system trusts, or set INSECURE=1.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { envStr, envBool, loadOptions, target, ok, pause } from './lib/common.js';

const extra = { discardResponseBodies: true };
if (envStr('CA_CERT', '') !== '') extra.tlsCACerts = envStr('CA_CERT', '');
if (envBool('INSECURE', false)) extra.insecureSkipTLSVerify = true;
export const options = loadOptions(extra);

const url = target('TARGET_HTTPS', 'https://echo-server:443');

export default function () {
  const res = http.get(url, { tags: { name: 'GET /' } });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'is HTTP/2': (r) => r.proto === 'HTTP/2.0',
  });
  pause(sleep);
}
