import { sleep } from 'k6';
import { Counter } from 'k6/metrics';
const started = new Counter('started');
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1m', gracefulStop: '30s' } },
};
export default function () { started.add(1); sleep(30); }
export function teardown() { console.log('teardown ran'); }
