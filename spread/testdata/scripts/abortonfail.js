import { sleep } from 'k6';
export const options = {
  vus: 2,
  duration: '30s',
  thresholds: { iterations: [{ threshold: 'count<5', abortOnFail: true }] },
};
export default function () { sleep(0.05); }
