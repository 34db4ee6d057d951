import { check } from 'k6';
export const options = { iterations: 5, thresholds: { checks: ['rate>0.9'] } };
export default function () { check(1, { 'is two': (x) => x === 2 }); }
