import { sleep } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const perScenario = new Counter('per_scenario');
export const options = {
  scenarios: {
    looping: { executor: 'constant-vus', vus: 2, duration: '1s', exec: 'loop', tags: { kind: 'loop' } },
    shared: { executor: 'shared-iterations', vus: 2, iterations: 10, exec: 'once', env: { WHO: 'shared' } },
    per_vu: { executor: 'per-vu-iterations', vus: 2, iterations: 3, startTime: '200ms' },
    rate: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '1s', preAllocatedVUs: 2, maxVUs: 4, exec: 'once' },
    ramp: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '500ms', target: 2 }, { duration: '500ms', target: 0 }], exec: 'loop' },
    rrate: { executor: 'ramping-arrival-rate', startRate: 5, timeUnit: '1s', preAllocatedVUs: 2, stages: [{ duration: '1s', target: 10 }], exec: 'once' },
  },
  thresholds: {
    'per_scenario{scenario:shared}': ['count==10'],
    'per_scenario{scenario:per_vu}': ['count==6'],
  },
};
export function loop() { perScenario.add(1); sleep(0.1); }
export function once() {
  perScenario.add(1);
  if (exec.scenario.name === 'shared' && __ENV.WHO !== 'shared') throw new Error('scenario env missing');
}
export default function () { perScenario.add(1); }
