import { Counter } from 'k6/metrics';
const c = new Counter('things');
export const options = { iterations: 3 };
export default function () { c.add(2); }
export function handleSummary(data) {
  return {
    stdout: 'things=' + data.metrics.things.values.count + '\n',
    [__ENV.OUT_FILE]: JSON.stringify({ count: data.metrics.things.values.count, iters: data.metrics.iterations.values.count }),
  };
}
