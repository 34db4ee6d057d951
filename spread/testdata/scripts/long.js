import { sleep } from 'k6';
import { Counter } from 'k6/metrics';
const c = new Counter('ticks');
export const options = { vus: 3, duration: '30s' };
export default function () { c.add(1); sleep(0.1); }
export function teardown() { console.log('teardown ran'); }
