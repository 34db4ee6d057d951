// gRPC (k6/net/grpc) against echo-server's spread.echo.v1.Echo, the
// best-known case of "new pods get no traffic": one HTTP/2 connection per
// client, held for the whole run. MODE picks the client behaviour:
//   per-vu       one connection per VU to the Service (k6's default)
//   round-robin  grpc-go's round_robin over the headless Service's DNS
//                records (one connection per ready pod, re-resolved when
//                a connection goes away, at most every 30 s by grpc-go's
//                default: SPREAD_GRPC_DNS_MIN_RESOLUTION_INTERVAL)
//   per-request  a new connection (new TCP port) per RPC
//   spread lab --replicas 1 --scale 2@2m scripts/scale_grpc.js
//   spread run -e TARGET_GRPC=echo-server.spread:5090 scripts/scale_grpc.js
// Methods come from server reflection (no .proto needed).
import grpc from 'k6/net/grpc';
import { check, sleep } from 'k6';
import { envStr, loadOptions, pause } from './lib/common.js';

export const options = loadOptions({});

const mode = envStr('MODE', 'per-vu');
const client = new grpc.Client();
let connected = false;

export default function () {
  if (!connected) {
    if (mode === 'round-robin') {
      client.connect(envStr('TARGET_GRPC_HEADLESS', 'dns:///echo-server-headless.spread.svc.cluster.local:5090'),
        { plaintext: true, reflect: true, loadBalancing: 'round_robin' });
    } else {
      client.connect(envStr('TARGET_GRPC', 'echo-server:5090'),
        { plaintext: true, reflect: true, connection: mode === 'per-request' ? 'per-request' : 'per-vu' });
    }
    connected = true;
  }
  const res = client.invoke('spread.echo.v1.Echo/Echo', { message: 'hi' }, { tags: { name: 'Echo' } });
  check(res, { 'status is OK': (r) => r.status === grpc.StatusOK });
  pause(sleep);
}
