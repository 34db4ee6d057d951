import { Trend } from 'k6/metrics';
const t = new Trend('waits');
export const options = { iterations: 2, thresholds: { waits: ['max<0'] } };
export function setup() { console.log('setup ran'); }
export default function () { t.add(5); console.log('vus option ' + __VU); }
export function teardown() { console.log('teardown ran'); }
