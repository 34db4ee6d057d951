// HTTP/3 (k6/x/http3) with the connection policy from the environment:
//   MODE=single-connection  one QUIC connection per VU (pinned like keep-alive)
//   MODE=per-request        a new connection per request, on
//        SOCKET=fresh         a new UDP socket (new 5-tuple: spreads), or
//        SOCKET=shared        one UDP socket (quic-go's default: pinned)
//   MODE=multiplexed        CONNECTIONS connections shared by every VU
// ZERO_RTT=1 resumes with 0-RTT; MAX_CONN_REQUESTS / MAX_CONN_AGE rotate
// connections client-side; IDLE_TIMEOUT sets the QUIC idle timeout;
// QLOG_DIR writes a qlog file per connection (debugging).
import http3 from 'k6/x/http3';
import { check, sleep } from 'k6';
import { envStr, envInt, envBool, loadOptions, target, ok, pause } from './lib/common.js';

export const options = loadOptions();

const mode = envStr('MODE', 'single-connection');
const cfg = { mode: mode };
if (mode === 'per-request') cfg.socket = envStr('SOCKET', 'fresh');
if (mode === 'multiplexed') cfg.connections = envInt('CONNECTIONS', 1);
if (envBool('ZERO_RTT', false)) cfg.zeroRTT = true;
if (envStr('CA_CERT', '') !== '') cfg.caCerts = envStr('CA_CERT', '');
if (envBool('INSECURE', false)) cfg.insecureSkipTLSVerify = true;
if (envInt('MAX_CONN_REQUESTS', 0) > 0) cfg.maxRequestsPerConnection = envInt('MAX_CONN_REQUESTS', 0);
if (envStr('MAX_CONN_AGE', '') !== '') cfg.maxConnectionAge = envStr('MAX_CONN_AGE', '');
if (envStr('IDLE_TIMEOUT', '') !== '') cfg.idleTimeout = envStr('IDLE_TIMEOUT', '');
if (envStr('QLOG_DIR', '') !== '') cfg.qlogDir = envStr('QLOG_DIR', '');

// Built in the init context, so once per VU; a multiplexed client shares
// its connections across VUs inside the module.
const client = new http3.Client(cfg);

const url = target('TARGET_H3', 'https://echo-server:443');

export default function () {
  const res = client.get(url, { tags: { name: 'GET /' } });
  check(res, ok);
  pause(sleep);
}
