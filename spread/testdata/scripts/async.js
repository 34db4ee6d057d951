// The event loop as a k6 user meets it (issue 11): async functions,
// promises, timers (global and k6/timers), async setup and teardown, and
// a rejection nobody handles, which k6 logs and counts as interrupted.
import { check } from 'k6';
import { setTimeout as wait } from 'k6/timers';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    ok: { executor: 'shared-iterations', iterations: 3, vus: 1, exec: 'ok' },
    bad: { executor: 'shared-iterations', iterations: 2, vus: 1, exec: 'bad', startTime: '0s' },
  },
  thresholds: { 'checks{scenario:ok}': ['rate==1'] },
};

const sleepMs = (ms) => new Promise((r) => wait(r, ms));

export async function setup() {
  await sleepMs(10);
  return { token: 'from-async-setup' };
}

export async function ok(data) {
  const order = [];
  setTimeout(() => order.push('timer'), 0);
  await Promise.resolve();
  order.push('micro');
  await sleepMs(20);
  const ticks = await new Promise((resolve) => {
    let n = 0;
    const id = setInterval(() => { if (++n === 3) { clearInterval(id); resolve(n); } }, 5);
  });
  check(null, {
    'setup data': () => data.token === 'from-async-setup',
    'microtask before timer': () => order.join() === 'micro,timer',
    'interval ticks': () => ticks === 3,
  });
}

export async function bad() {
  await sleepMs(5);
  throw new Error('async failure ' + exec.scenario.iterationInTest);
}

export async function teardown() {
  await sleepMs(5);
  console.log('async teardown ran');
}
