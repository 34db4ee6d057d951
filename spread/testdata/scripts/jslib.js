import { textSummary } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';
import { Counter } from 'k6/metrics';
const c = new Counter('jslib_things');
export const options = { iterations: 2 };
export default function () { c.add(1); }
export function handleSummary(data) {
  return { stdout: 'CUSTOM\n' + textSummary(data, { indent: '  ', enableColors: false }) };
}
