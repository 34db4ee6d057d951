import { sleep } from 'k6';
import { Counter } from 'k6/metrics';
const started = new Counter('started');
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1m', gracefulStop: '30s' } },
};
// The iterations outlast gracefulStop: the first signal must cut them at
// once (k6), then teardown runs; it is slow so that a second signal can
// stop it.
export default function () { started.add(1); sleep(30); }
export function teardown() { console.log('teardown started'); sleep(30); console.log('teardown ran'); }
