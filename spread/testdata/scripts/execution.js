// k6/execution and the k6 module as k6 documents them (issue 11):
// scenario.progress goes from 0 to 1 (issue 10's bug: it was always 0),
// vu.metrics.tags and .metadata reach the samples, test.options is the
// consolidated, read-only options, test.fail() marks the run failed
// (exit code 110) without stopping it.
import exec from 'k6/execution';
import { check, group, randomSeed, sleep, fail } from 'k6';
import { Counter } from 'k6/metrics';

const probe = new Counter('probe');

export const options = {
  scenarios: {
    timed: { executor: 'constant-vus', vus: 1, duration: '1s', exec: 'timed' },
    counted: { executor: 'shared-iterations', vus: 1, iterations: 4, exec: 'counted', startTime: '1100ms' },
  },
  tags: { run: 'exec-e2e' },
};

function record(name) {
  console.log(`progress ${name} ${exec.scenario.progress}`);
}

export function timed() {
  record('timed');
  sleep(0.2);
  if (exec.scenario.iterationInInstance === 1) {
    exec.test.fail('marked by the script');
  }
}

export async function counted() {
  record('counted');
  exec.vu.metrics.tags.mytag = 'v' + exec.vu.iterationInScenario;
  exec.vu.metrics.metadata.trace_id = 'trace-' + exec.scenario.iterationInTest;
  probe.add(1);
  delete exec.vu.metrics.metadata.trace_id;
  randomSeed(7);
  const a = Math.random();
  randomSeed(7);
  try { exec.test.options.scenarios.counted.vus = 9; } catch (e) { /* strict mode: TypeError */ }
  const frozen = exec.test.options.scenarios.counted.vus === 1 && Object.isFrozen(exec.test.options) &&
    exec.test.options.setupTimeout === '1m0s';
  const before = Date.now();
  // group() refuses async functions (k6); a function returning a promise
  // keeps the group open until it settles.
  const r = await group('async group', () =>
    new Promise((res) => setTimeout(() => res(exec.vu.metrics.tags.group), 30)));
  let failed = '';
  try { fail('by fail()'); } catch (e) { failed = String(e); }
  check(null, {
    'random seeded': () => Math.random() === a,
    'options read-only': () => frozen,
    'async group tag': () => r === '::async group' && Date.now() - before >= 29,
    'fail throws': () => failed.includes('by fail()'),
    'vu ids': () => exec.vu.idInTest === 1 && exec.vu.idInInstance === 1,
    'instance': () => exec.instance.vusInitialized >= 1 && exec.instance.iterationsCompleted >= 1 &&
      exec.instance.currentTestRunDuration > 1000,
    'scenario': () => exec.scenario.name === 'counted' && exec.scenario.executor === 'shared-iterations' &&
      exec.scenario.startTime > 0,
  }, { checktag: 'yes' });
}

