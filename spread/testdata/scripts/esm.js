import { check, group, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import exec from 'k6/execution';

const requests = new Counter('my_requests');
const level = new Gauge('my_level');
const good = new Rate('my_good');
const wait = new Trend('my_wait', true);

export const options = {
  vus: 2,
  iterations: 10,
  tags: { suite: 'e2e' },
  thresholds: { my_requests: ['count==10'], my_good: ['rate==1'], 'my_wait{step:b}': ['max<1000'] },
};

export function setup() { return { token: 'abc' }; }

export default function (data) {
  group('step', () => {
    requests.add(1);
    level.add(exec.vu.idInTest);
    good.add(data.token === 'abc');
    wait.add(5, { step: 'b' });
    check(data, { 'token passed': (d) => d.token === 'abc' });
  });
  sleep(0.01);
}
