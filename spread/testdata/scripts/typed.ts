import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { greet, explode } from './lib/util.ts';

const lat: Trend = new Trend('ts_latency', true);
const data: string = open('./data.txt');

export const options = { iterations: 4, vus: 2 };

export default function (): void {
  const g = greet({ name: data.trim(), times: __ITER });
  check(g, { 'greets': (s: string) => s.startsWith('spread') });
  lat.add(__ITER * 10);
  if (__ENV.EXPLODE === '1') {
    explode('typed explosion');
  }
}
