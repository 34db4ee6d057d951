import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const seen = new Counter('seen');
export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 12 } },
};
export default function () { seen.add(1, { it: String(exec.scenario.iterationInTest), vu: String(exec.vu.idInTest) }); }
